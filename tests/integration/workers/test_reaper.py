"""The reaper gives lapsed holds back exactly once and queues one expiry of the Stripe
session, which the expire handler carries out (and treats a closed session as done)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from integration.workers.outbox_support import Orders, WorkerProcess, run_cli

from checkout.reaper import expire_key, reap
from devstack.processes import wait_for
from kassa.bootstrap import Container
from schemas.outbox import ExpireSession
from schemas.settings import Settings
from workers.jobs import perform_row


def reserved(container: Container, sku: str) -> int:
    with container.uow() as uow:
        return sum(lv.reserved for lv in uow.inventory.levels("demo") if lv.sku == sku)


def test_lapsed_hold_is_released_once_and_its_session_expired(
    container: Container, orders: Orders
) -> None:
    past = datetime.now(UTC) - timedelta(minutes=1)
    lapsed = orders.checkout({"MUG-WHITE": 3}, hold_expires_at=past)
    session_id = orders.stripe_session(lapsed)
    live = orders.checkout({"MUG-WHITE": 2}, hold_expires_at=datetime.now(UTC) + timedelta(hours=1))
    assert reserved(container, "MUG-WHITE") == 5

    now = datetime.now(UTC)
    assert reap(container, now) == 1
    assert reap(container, now) == 0
    assert reserved(container, "MUG-WHITE") == 2  # the live hold is untouched

    with container.uow() as uow:
        assert (c := uow.checkouts.get("demo", lapsed.id)) is not None and c.state == "expired"
        assert (c := uow.checkouts.get("demo", live.id)) is not None and c.state == "open"
        assert {h.state for h in uow.inventory.holds(lapsed.id)} == {"expired"}
        rows = uow.outbox.for_shop("demo", "stripe.expire_session")
    assert [(r.dedupe_key, r.payload["session_id"]) for r in rows] == [
        (expire_key(lapsed.id), session_id)
    ]

    assert perform_row(container, rows[0].id) == "done"
    with container.uow() as uow:
        shop = uow.shops.get("demo")
    assert shop is not None
    assert container.payments.retrieve_session(shop, session_id).status == "expired"

    # Expiring a session that is no longer open is not an error: there is nothing to do.
    again = orders.queue(
        ExpireSession(shop_id="demo", checkout_id=lapsed.id, session_id=session_id),
        f"checkout-{lapsed.id}-expire-again",
    )
    assert perform_row(container, again.id) == "done"


def test_concurrent_reapers_release_once(container: Container, orders: Orders) -> None:
    past = datetime.now(UTC) - timedelta(seconds=1)
    for _ in range(5):
        orders.checkout({"STICKERS": 2}, hold_expires_at=past)
    assert reserved(container, "STICKERS") == 10
    now = datetime.now(UTC)
    with ThreadPoolExecutor(4) as pool:
        released = list(pool.map(lambda _: reap(container, now), range(4)))
    assert sum(released) == 5
    assert reserved(container, "STICKERS") == 0


def test_kassa_reap_command(settings: Settings, container: Container, orders: Orders) -> None:
    orders.checkout({"POSTER-A2": 1}, hold_expires_at=datetime.now(UTC) - timedelta(seconds=1))
    assert reserved(container, "POSTER-A2") == 1
    result = run_cli(settings, "reap")
    assert result.returncode == 0, result.stderr
    assert "released the lapsed holds of 1 checkout(s)" in result.stdout
    assert reserved(container, "POSTER-A2") == 0


def test_the_worker_reaps_on_its_own(
    settings: Settings,
    container: Container,
    orders: Orders,
    worker_process: Callable[..., WorkerProcess],
) -> None:
    orders.checkout({"MUG-WHITE": 4}, hold_expires_at=datetime.now(UTC) - timedelta(seconds=1))
    assert reserved(container, "MUG-WHITE") == 4
    worker = worker_process(settings.model_copy(update={"reaper_interval_seconds": 0.2}))
    wait_for(
        lambda: reserved(container, "MUG-WHITE") == 0,
        what="the worker's reaper",
        context=worker.log_tail,
    )
    wait_for(lambda: "lapsed holds released" in worker.log_tail(), what="the reaper's log line")


def test_a_backlog_larger_than_a_batch_is_reaped_batch_after_batch(
    container: Container, orders: Orders
) -> None:
    past = datetime.now(UTC) - timedelta(minutes=1)
    lapsed = [orders.checkout({"MUG-WHITE": 1}, hold_expires_at=past) for _ in range(3)]
    assert reserved(container, "MUG-WHITE") == 3
    assert reap(container, datetime.now(UTC), batch=2) == 3
    assert reserved(container, "MUG-WHITE") == 0
    with container.uow() as uow:
        found = [uow.checkouts.get("demo", co.id) for co in lapsed]
    assert [c.state if c else None for c in found] == ["expired"] * 3

"""Retention deletes only what is old and finished: done outbox rows, processed Stripe
events, expired checkouts with no order and no active hold (with their finished holds), in
batches; and the worker runs it on its own."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from integration.workers.outbox_support import Orders, WorkerProcess
from support import db

from devstack.processes import wait_for
from kassa.bootstrap import Container
from schemas.outbox import StockLine, StockMirrorDecrement
from schemas.settings import Settings
from workers.retention import purge

OLD = timedelta(days=40)


def outbox_row(orders: Orders, state: str, age: timedelta) -> int:
    key = f"retention-{uuid.uuid4().hex}"
    row = orders.queue(
        StockMirrorDecrement(
            shop_id="demo", order_reference=key, lines=[StockLine(sku="MUG-WHITE", quantity=1)]
        ),
        key,
    )
    db(
        orders.container,
        "UPDATE outbox SET state = %s, done_at = CASE WHEN %s = 'done' THEN now() - %s END,"
        " available_at = now() - %s WHERE id = %s RETURNING id",
        state,
        state,
        age,
        age,
        row.id,
    )
    return row.id


def stripe_event(container: Container, processed_age: timedelta | None) -> str:
    event_id = f"evt_{uuid.uuid4().hex}"
    db(
        container,
        "INSERT INTO stripe_events (event_id, shop_id, type, received_at, processed_at)"
        " VALUES (%s, 'demo', 'checkout.session.completed', now() - interval '50 days',"
        " now() - %s::interval) RETURNING event_id",
        event_id,
        processed_age,
    )
    return event_id


def expired_checkout(orders: Orders, *, hold_state: str, with_order: bool = False) -> uuid.UUID:
    if with_order:
        checkout_id = orders.order({"MUG-WHITE": 1}).checkout_id
    else:
        checkout_id = orders.checkout(
            {"MUG-WHITE": 1}, hold_expires_at=datetime.now(UTC) + timedelta(hours=1)
        ).id
        db(
            orders.container,
            "UPDATE inventory_holds SET state = %s WHERE checkout_id = %s RETURNING id",
            hold_state,
            checkout_id,
        )
    db(
        orders.container,
        "UPDATE checkouts SET state = 'expired', claims_intent = false, expires_at = now() - %s"
        " WHERE id = %s"
        " RETURNING id",
        OLD,
        checkout_id,
    )
    return checkout_id


def exists(container: Container, table: str, column: str, value: object) -> bool:
    return bool(db(container, f"SELECT count(*) FROM {table} WHERE {column} = %s", value))


def test_only_old_finished_rows_go(container: Container, orders: Orders) -> None:
    old_done = [outbox_row(orders, "done", OLD) for _ in range(5)]
    kept_rows = [
        outbox_row(orders, "done", timedelta(days=1)),
        outbox_row(orders, "dead", OLD),
        outbox_row(orders, "pending", OLD),
    ]
    old_event = stripe_event(container, OLD)
    kept_events = [stripe_event(container, timedelta(days=1)), stripe_event(container, None)]
    gone_checkout = expired_checkout(orders, hold_state="released")
    held = expired_checkout(orders, hold_state="active")
    ordered = expired_checkout(orders, hold_state="committed", with_order=True)

    deleted = purge(container.uow, datetime.now(UTC), keep_days=30, batch_size=2)

    assert deleted == {"outbox": 5, "stripe_events": 1, "checkouts": 1}
    assert not any(exists(container, "outbox", "id", i) for i in old_done)
    assert all(exists(container, "outbox", "id", i) for i in kept_rows)
    assert not exists(container, "stripe_events", "event_id", old_event)
    assert all(exists(container, "stripe_events", "event_id", e) for e in kept_events)
    assert not exists(container, "checkouts", "id", gone_checkout)
    assert not exists(container, "inventory_holds", "checkout_id", gone_checkout)
    assert exists(container, "checkouts", "id", held)
    assert exists(container, "inventory_holds", "checkout_id", held)
    assert exists(container, "checkouts", "id", ordered)

    again = purge(container.uow, datetime.now(UTC), keep_days=30, batch_size=2)
    assert again == {"outbox": 0, "stripe_events": 0, "checkouts": 0}


def test_a_pass_stops_after_its_batch_limit_and_the_next_goes_on(
    container: Container, orders: Orders
) -> None:
    """However much is old, one pass holds at most ``max_batches`` short transactions per
    table; what is left goes in the next pass."""
    old_done = [outbox_row(orders, "done", OLD) for _ in range(5)]
    first = purge(container.uow, datetime.now(UTC), keep_days=30, batch_size=2, max_batches=2)
    assert first == {"outbox": 4, "stripe_events": 0, "checkouts": 0}
    assert sum(exists(container, "outbox", "id", i) for i in old_done) == 1
    second = purge(container.uow, datetime.now(UTC), keep_days=30, batch_size=2, max_batches=2)
    assert second == {"outbox": 1, "stripe_events": 0, "checkouts": 0}
    assert not any(exists(container, "outbox", "id", i) for i in old_done)


def test_the_worker_runs_retention_by_itself(
    settings: Settings,
    container: Container,
    orders: Orders,
    worker_process: Callable[..., WorkerProcess],
) -> None:
    old = outbox_row(orders, "done", OLD)
    recent = outbox_row(orders, "done", timedelta(days=1))
    event = stripe_event(container, OLD)
    worker = worker_process(
        settings.model_copy(update={"retention_interval_seconds": 0.2, "retention_days": 30.0})
    )
    wait_for(
        lambda: (
            not exists(container, "outbox", "id", old)
            and not exists(container, "stripe_events", "event_id", event)
        ),
        what="the worker's retention pass",
        context=worker.log_tail,
    )
    assert exists(container, "outbox", "id", recent)
    assert "retention pass deleted old rows" in worker.log_tail(200)

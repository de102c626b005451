"""The modification window end to end: real Postgres, Redis, a worker process, the Stripe
emulator over HTTP. Each change in both capture modes ends in exactly one money effect at
Stripe (void, capture for the lowered total, refund of the difference), however often it
is requested, and the payment row and its history say the same as Stripe."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from integration.workers.outbox_support import RelayThread, WorkerProcess, run_cli, wait_for
from integration.workers.window_support import (
    buy,
    drain,
    on_hand,
    stripe_refunds,
    use_capture_mode,
    wait_for_outbox,
)
from support import CANARY_CUSTOMER, db, pay

from kassa.bootstrap import Container
from schemas.settings import Settings
from stripe_emulator.server import EmulatorServer
from workers.jobs import perform_row
from workers.queue import enqueue_rows, outbox_queue

Drain = Callable[[], WorkerProcess]

ADDRESS = {"line1": "1 New Street", "city": "Newtown", "postal_code": "NT1 1AA", "country": "GB"}


@pytest.fixture
def run_effects(
    container: Container,
    worker_process: Callable[..., WorkerProcess],
    relay_thread: Callable[[Container], RelayThread],
) -> Drain:
    return lambda: drain(container, worker_process, relay_thread)


def replay_every_row(container: Container, settings: Settings, worker: WorkerProcess) -> None:
    """Every outbox job once more, as if Redis had handed each out twice."""
    with container.uow() as uow:
        enqueue_rows(outbox_queue(container.redis), uow.outbox.for_shop("demo"), settings)
    wait_for_outbox(container, worker)
    queue = outbox_queue(container.redis)
    wait_for(lambda: queue.count == 0, what="the duplicate jobs to run")


def mails(settings: Settings) -> dict[str, str]:
    return {p.name: p.read_text() for p in Path(settings.mailbox_dir).glob("*.eml")}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Many purchases from one address in a minute: lift the checkout rate limit."""
    return settings.model_copy(update={"checkout_rate_limit": "1000/minute"})


def test_cancel_in_a_delayed_shop_voids_the_authorization_once(
    client, container: Container, settings: Settings, emulator: EmulatorServer, run_effects: Drain
) -> None:
    use_capture_mode(container, "delayed")
    mugs_before = on_hand(container, "MUG-WHITE")
    order = buy(client, container, emulator.url, {"MUG-WHITE": 2})
    assert order.intent().status == "requires_capture"
    first = order.cancel(key="cancel-1")
    again = order.cancel(key="cancel-1")
    assert first.status_code == again.status_code == 200
    assert first.get_json() == again.get_json()
    assert first.get_json()["status"] == "cancelled"
    assert order.cancel().get_json()["error"]["code"] == "window_closed"  # a new request
    assert on_hand(container, "MUG-WHITE") == mugs_before  # back on hand at once

    worker = run_effects()
    replay_every_row(container, settings, worker)
    order.close_window()  # the capture row falls due: it must find nothing to capture
    wait_for_outbox(container, worker)

    intent = order.intent()
    assert (intent.status, intent.amount_received) == ("canceled", 0)
    payment = order.payment()
    assert (payment.captured_amount, payment.voided_amount) == (0, payment.amount)
    assert order.get().get_json()["payment"]["state"] == "voided"
    assert container.mirror.levels("demo")["MUG-WHITE"] == mugs_before
    assert db(container, "SELECT count(*) FROM order_events WHERE kind = 'cancelled'") == 1
    merchant = "SELECT data->'object'->>'status' FROM merchant_events WHERE type = %s"
    assert db(container, merchant, "order.cancelled") == "cancelled"
    assert db(container, "SELECT status FROM orders") == "cancelled"
    cancelled = [t for t in mails(settings).values() if "is cancelled" in t]
    assert len(cancelled) == 1


def test_cancel_in_an_immediate_shop_refunds_in_full_once(
    client, container: Container, settings: Settings, emulator: EmulatorServer, run_effects: Drain
) -> None:
    use_capture_mode(container, "immediate")
    order = buy(client, container, emulator.url, {"MUG-WHITE": 1, "STICKERS": 2})
    total = order.get().get_json()["total"]
    assert total == 1200 + 600 + 500
    assert order.cancel(key="k").status_code == 200
    assert order.cancel(key="k").status_code == 200

    worker = run_effects()
    replay_every_row(container, settings, worker)

    assert stripe_refunds(container, emulator.url, order.order_id) == [total]
    view = order.get().get_json()
    assert view["payment"]["state"] == "refunded"
    assert view["refunded_amount"] == total
    assert view["modification_allowed"] is False and view["remaining_seconds"] == 0


def test_lowering_a_quantity_in_a_delayed_shop_is_captured_at_the_new_total(
    client, container: Container, settings: Settings, emulator: EmulatorServer, run_effects: Drain
) -> None:
    use_capture_mode(container, "delayed")
    order = buy(
        client, container, emulator.url, {"MUG-WHITE": 3, "STICKERS": 1}, coupon="WELCOME10"
    )
    authorized = order.intent().amount
    assert authorized == (3600 + 300) - 390 + 500
    mugs = on_hand(container, "MUG-WHITE")
    mug = order.line_id("MUG-WHITE")

    lowered = order.set_quantity(mug, 1, key="lower-1")
    assert lowered.status_code == 200, lowered.get_json()
    assert order.set_quantity(mug, 1, key="lower-1").get_json() == lowered.get_json()
    view = lowered.get_json()
    # The same pricing code as checkout: 10 % off the new subtotal, shipping unchanged.
    assert (view["subtotal"], view["discount"], view["shipping"]) == (1500, 150, 500)
    assert view["total"] == 1850
    assert on_hand(container, "MUG-WHITE") == mugs + 2
    updated = "SELECT data->'object'->>'total' FROM merchant_events WHERE type = 'order.updated'"
    assert db(container, updated) == "1850"
    # The order event (its time is a column): who, what, the amounts before and after,
    # and details without personal data.
    event = db(
        container,
        "SELECT json_build_array(kind, actor, total_before, total_after, details)"
        " FROM order_events",
    )
    assert event == [
        "quantity_changed",
        "customer",
        authorized,
        1850,
        {"line_id": mug, "sku": "MUG-WHITE", "quantity_before": 3, "quantity_after": 1},
    ]
    assert order.set_quantity(mug, 2).get_json()["error"]["code"] == ("amount_increase_not_allowed")

    worker = run_effects()
    order.close_window()
    wait_for_outbox(container, worker)
    replay_every_row(container, settings, worker)

    intent = order.intent()
    assert (intent.status, intent.amount_received) == ("succeeded", 1850)
    payment = order.payment()
    assert (payment.captured_amount, payment.voided_amount) == (1850, authorized - 1850)
    after = order.get().get_json()
    assert after["status"] == "captured" and after["payment"]["state"] == "captured"
    assert order.set_quantity(mug, 0).get_json()["error"]["code"] == "window_closed"
    assert container.mirror.levels("demo")["MUG-WHITE"] == on_hand(container, "MUG-WHITE")
    changed = [t for t in mails(settings).values() if "was changed" in t]
    assert len(changed) == 1 and "$18.50" in changed[0]


def test_lowering_a_quantity_in_an_immediate_shop_refunds_the_difference_once(
    client, container: Container, settings: Settings, emulator: EmulatorServer, run_effects: Drain
) -> None:
    use_capture_mode(container, "immediate")
    order = buy(client, container, emulator.url, {"MUG-WHITE": 2, "STICKERS": 3})
    stickers = order.line_id("STICKERS")
    assert order.set_quantity(stickers, 0, key="a").status_code == 200  # removes the line
    assert order.set_quantity(stickers, 0, key="a").status_code == 200
    view = order.get().get_json()
    assert [ln["sku"] for ln in view["lines"]] == ["MUG-WHITE"]
    assert view["total"] == 2400 + 500

    worker = run_effects()
    replay_every_row(container, settings, worker)
    assert stripe_refunds(container, emulator.url, order.order_id) == [900]
    assert order.get().get_json()["payment"]["state"] == "partially_refunded"

    # The last line to 0 is a cancel: the rest is refunded, nothing twice.
    mug = order.line_id("MUG-WHITE")
    assert order.set_quantity(mug, 0).get_json()["status"] == "cancelled"
    wait_for_outbox(container, worker)
    assert sorted(stripe_refunds(container, emulator.url, order.order_id)) == [900, 2900]
    assert order.get().get_json()["payment"]["state"] == "refunded"


def test_address_change_is_validated_recorded_without_personal_data(
    client, container: Container, emulator: EmulatorServer, caplog: pytest.LogCaptureFixture
) -> None:
    use_capture_mode(container, "delayed")
    order = buy(client, container, emulator.url, {"MUG-WHITE": 1})
    bad = order.set_address({**ADDRESS, "country": "Narnia"})
    assert bad.status_code == 422 and bad.get_json()["error"]["code"] == "invalid_request"
    assert order.get().get_json()["shipping_address"]["line1"] == "7 Canary Row"
    ok = order.set_address(ADDRESS, key="addr")
    assert ok.status_code == 200
    assert ok.get_json()["shipping_address"]["line1"] == "1 New Street"
    assert (
        order.set_address({**ADDRESS, "city": "Elsewhere"}, key="addr").get_json()["error"]["code"]
        == "idempotency_key_reused"
    )
    events = db(container, "SELECT json_agg(details) FROM order_events")
    assert "Street" not in str(events) and "Canary" not in str(events)
    logged = caplog.text + str([r.__dict__ for r in caplog.records])
    for secret in ("New Street", "Newtown", "Narnia", CANARY_CUSTOMER["email"]):
        assert secret not in logged


def test_changes_need_the_owner_and_an_open_window(
    client, app, container: Container, emulator: EmulatorServer
) -> None:
    use_capture_mode(container, "delayed")
    order = buy(client, container, emulator.url, {"MUG-WHITE": 2})
    mug = order.line_id("MUG-WHITE")
    stranger = app.test_client()
    path = f"/api/orders/{order.reference}"
    shop = {"X-Shop-Id": "demo"}
    assert stranger.post(f"{path}/cancel", headers=shop).status_code == 401
    wrong = {**shop, "X-Modification-Token": "0" * 64}
    for resp in (
        stranger.post(f"{path}/cancel", headers=wrong),
        stranger.patch(f"{path}/lines/{mug}", json={"quantity": 1}, headers=wrong),
        stranger.post("/api/orders/K-NOSUCH1/cancel", headers=wrong),
    ):
        assert (resp.status_code, resp.get_json()["error"]["code"]) == (404, "order_not_found")
    assert order.set_quantity(mug + 1000, 1).status_code == 404
    assert order.set_quantity(mug, 1.5).status_code == 422
    assert order.set_quantity(mug, -1).status_code == 422
    assert order.set_quantity(mug, 3).get_json()["error"]["code"] == "amount_increase_not_allowed"
    add = {"sku": "STICKERS", "quantity": 1}
    for resp in (
        stranger.post(f"{path}/lines", json=add, headers={**wrong, "Idempotency-Key": "a"}),
        stranger.post(f"{path}/lines", json=add, headers={**shop, "Idempotency-Key": "a"}),
    ):
        assert resp.status_code in (401, 404)
    assert db(container, "SELECT count(*) FROM checkouts WHERE order_id IS NOT NULL") == 0
    assert db(container, "SELECT count(*) FROM order_events") == 0

    order.close_window()
    view = order.get().get_json()
    assert (view["modification_allowed"], view["remaining_seconds"]) == (False, 0)
    late_add = client.post(f"{path}/lines", json=add, headers={**shop, "Idempotency-Key": "late"})
    for resp in (order.cancel(), order.set_quantity(mug, 1), order.set_address(ADDRESS), late_add):
        assert (resp.status_code, resp.get_json()["error"]["code"]) == (409, "window_closed")
    assert db(container, "SELECT status FROM orders") == "authorized"


def test_an_authorization_dropped_at_stripe_fails_the_order_and_returns_stock(
    live_server: str, container: Container, emulator: EmulatorServer
) -> None:
    use_capture_mode(container, "delayed")
    secret = container.payments.register_webhook(
        "sk_test_kassa_demo", f"{live_server}/webhooks/stripe/demo"
    )
    with container.uow() as uow:
        uow.shops.set_webhook_secret("demo", secret)
    mugs = on_hand(container, "MUG-WHITE")
    co = requests.post(
        f"{live_server}/api/checkout",
        json={"lines": [{"sku": "MUG-WHITE", "quantity": 2}]},
        headers={"X-Shop-Id": "demo", "Idempotency-Key": "drop-1"},
        timeout=10,
    ).json()
    pay(emulator.url, co["session_id"])
    wait_for(lambda: db(container, "SELECT status FROM orders") == "authorized", what="order")
    # Stripe lets an uncaptured authorization lapse after 7 days.
    requests.post(
        f"{emulator.url}/_emulator/clock/advance", json={"seconds": 8 * 24 * 3600}, timeout=5
    ).raise_for_status()
    wait_for(
        lambda: db(container, "SELECT status FROM orders") == "capture_failed",
        what="the payment_intent.canceled webhook",
    )
    assert on_hand(container, "MUG-WHITE") == mugs
    assert db(container, "SELECT kind FROM audit_events WHERE kind = 'capture_failed'")
    assert db(container, "SELECT voided_amount = amount FROM payments") is True
    metrics = requests.get(f"{live_server}/metrics", timeout=5).text
    assert 'kassa_capture_failures_total{reason="canceled_at_stripe"}' in metrics


def test_a_capture_refused_by_stripe_fails_the_order_and_returns_stock(
    client, container: Container, emulator: EmulatorServer
) -> None:
    """The authorization was cancelled at Stripe and no webhook told us: the capture job
    finds out, and the order ends capture_failed, never looking paid."""
    use_capture_mode(container, "delayed")
    mugs = on_hand(container, "MUG-WHITE")
    order = buy(client, container, emulator.url, {"MUG-WHITE": 2})
    pi = order.payment().stripe_payment_intent_id
    assert pi is not None
    container.payments.client("sk_test_kassa_demo").v1.payment_intents.cancel(pi)
    order.close_window()
    row = db(container, "SELECT id FROM outbox WHERE kind = 'stripe.capture'")
    assert perform_row(container, row) == "done"
    view = order.get().get_json()
    assert (view["status"], view["payment"]["state"]) == ("capture_failed", "voided")
    assert on_hand(container, "MUG-WHITE") == mugs
    assert db(container, "SELECT count(*) FROM audit_events WHERE kind = 'capture_failed'") == 1
    assert db(container, "SELECT count(*) FROM outbox WHERE kind = 'stripe.void'") == 0


def test_reconcile_compares_payment_rows_with_stripe(
    client, container: Container, settings: Settings, emulator: EmulatorServer
) -> None:
    use_capture_mode(container, "delayed")
    order = buy(client, container, emulator.url, {"MUG-WHITE": 3})
    assert order.set_quantity(order.line_id("MUG-WHITE"), 1).status_code == 200
    order.close_window()
    row = db(container, "SELECT id FROM outbox WHERE kind = 'stripe.capture'")
    assert perform_row(container, row) == "done"

    clean = json.loads(run_cli(settings, "reconcile", "--json").stdout)
    assert clean["payments_checked"] == 1 and clean["payments"] == []
    db(container, "UPDATE payments SET captured_amount = amount, voided_amount = 0 RETURNING id")
    drifted = json.loads(run_cli(settings, "reconcile", "--json").stdout)["payments"]
    assert [(d["order_reference"], d["stripe"]) for d in drifted] == [
        (order.reference, "succeeded 1700")
    ]


def test_postgres_refuses_a_delayed_window_past_six_days(container: Container) -> None:
    import psycopg

    with pytest.raises(psycopg.errors.CheckViolation):
        db(
            container,
            "UPDATE shops SET capture_mode = 'delayed', capture_window_seconds = %s"
            " WHERE id = 'demo' RETURNING id",
            7 * 24 * 3600,
        )

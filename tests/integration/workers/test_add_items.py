"""Adding items to a placed order, end to end: real Postgres, Redis, a worker process, the
Stripe emulator over HTTP, its webhooks delivered (five times each) to the app on a real
server. The added items never raise an authorization: they are paid through a
supplementary Checkout Session of their own, and end as real order lines captured or
refunded with the order, as released holds and an unchanged order, or as a full refund
when paid after the window."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import pytest
from integration.workers.outbox_support import RelayThread, WorkerProcess, run_cli, wait_for
from integration.workers.window_support import (
    API_KEY,
    Bought,
    buy,
    drain,
    on_hand,
    stripe_refunds,
    use_capture_mode,
    wait_for_outbox,
)
from support import db, emulator_state, pay, webhook_mode

from checkout.capture import begin_capture
from checkout.reaper import reap
from kassa.bootstrap import Container
from schemas.settings import Settings
from stripe_emulator.server import EmulatorServer
from workers.jobs import perform_row

Drain = Callable[[], WorkerProcess]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"checkout_rate_limit": "1000/minute"})


@pytest.fixture
def run_effects(
    container: Container,
    worker_process: Callable[..., WorkerProcess],
    relay_thread: Callable[[Container], RelayThread],
) -> Drain:
    return lambda: drain(container, worker_process, relay_thread)


@pytest.fixture
def webhooks(live_server: str, container: Container, emulator: EmulatorServer) -> None:
    """Stripe's webhooks reach the app, every event five times in any order."""
    secret = container.payments.register_webhook(API_KEY, f"{live_server}/webhooks/stripe/demo")
    with container.uow() as uow:
        uow.shops.set_webhook_secret("demo", secret)
    webhook_mode(emulator.url, duplicate=5, shuffle=True)


def add(order: Bought, sku: str, quantity: int, key: str | None) -> Any:
    return order.client.post(
        f"/api/orders/{order.reference}/lines",
        json={"sku": sku, "quantity": quantity},
        headers={**order.headers, **({"Idempotency-Key": key} if key else {})},
    )


def reserved(container: Container, sku: str) -> int:
    return int(db(container, "SELECT sum(reserved) FROM inventory_levels WHERE sku = %s", sku))


def intent_of(container: Container, order: Bought, checkout_id: str | None) -> Any:
    """The emulator's PaymentIntent of the order's own payment (None) or an added one."""
    sql = "SELECT stripe_payment_intent_id FROM payments WHERE order_id = %s AND "
    if checkout_id is None:
        pi = db(container, sql + "checkout_id IS NULL", order.order_id)
    else:
        pi = db(container, sql + "checkout_id = %s", order.order_id, checkout_id)
    return container.payments.retrieve_payment_intent(order.shop, pi)


def paid_into_order(container: Container, checkout_id: str) -> None:
    wait_for(
        lambda: (
            db(container, "SELECT count(*) FROM payments WHERE checkout_id = %s", checkout_id) == 1
        ),
        what="the supplementary payment to be fulfilled",
    )


@pytest.mark.usefixtures("webhooks")
def test_added_items_in_a_delayed_shop_are_captured_with_the_order(
    client, container: Container, settings: Settings, emulator: EmulatorServer, run_effects: Drain
) -> None:
    use_capture_mode(container, "delayed")
    order = buy(client, container, emulator.url, {"MUG-WHITE": 2}, coupon="WELCOME10")
    before = order.get().get_json()
    authorized = order.intent().amount
    assert before["total"] == authorized == 2400 - 240 + 500
    stickers_reserved = reserved(container, "STICKERS")

    first = add(order, "STICKERS", 3, "add-1")
    assert first.status_code == 201, first.get_json()
    again = add(order, "STICKERS", 3, "add-1")
    assert again.status_code == 201 and again.get_json() == first.get_json()
    created = first.get_json()
    assert created["session_id"] and created["url"]
    # Priced now from the catalog, with neither the order's coupon nor more shipping.
    assert created["amount_total"] == 900
    assert add(order, "STICKERS", 2, "add-1").get_json()["error"]["code"] == (
        "idempotency_key_reused"
    )
    assert add(order, "STICKERS", 1, None).status_code == 400
    assert add(order, "NO-SUCH-SKU", 1, "add-2").status_code == 404
    too_many = add(order, "STICKERS", 999, "add-3")
    assert (too_many.status_code, too_many.get_json()["error"]["code"]) == (409, "out_of_stock")
    assert db(container, "SELECT count(*) FROM checkouts WHERE order_id IS NOT NULL") == 1
    assert reserved(container, "STICKERS") == stickers_reserved + 3
    window_end = datetime.fromisoformat(before["window_ends_at"])
    assert datetime.fromtimestamp(created["expires_at"], UTC) <= window_end
    latest_hold = db(
        container,
        "SELECT max(expires_at) FROM inventory_holds WHERE checkout_id = %s",
        created["checkout_id"],
    )
    assert latest_hold <= window_end
    # Nothing about the order moved, and its authorization was never raised.
    assert order.get().get_json()["total"] == before["total"]
    assert order.intent().amount == authorized

    pay(emulator.url, created["session_id"])
    paid_into_order(container, created["checkout_id"])
    view = order.get().get_json()
    assert view["total"] == before["total"] + 900
    assert view["subtotal"] == before["subtotal"] + 900
    assert [(ln["sku"], ln["quantity"]) for ln in view["lines"]] == [
        ("MUG-WHITE", 2),
        ("STICKERS", 3),
    ]
    assert [p["authorized_amount"] for p in view["payments"]] == [authorized, 900]
    assert view["payment"]["state"] == "authorized"
    assert reserved(container, "STICKERS") == stickers_reserved  # the hold is committed
    assert db(container, "SELECT count(*) FROM order_events WHERE kind = 'items_added'") == 1
    updated = "SELECT data->'object'->>'total' FROM merchant_events WHERE type = 'order.updated'"
    assert db(container, updated) == str(before["total"] + 900)
    assert order.intent().amount == authorized

    # Lowering an added line lowers the payment that paid for it, nothing else.
    stickers = order.line_id("STICKERS")
    assert order.set_quantity(stickers, 4).get_json()["error"]["code"] == (
        "amount_increase_not_allowed"
    )
    lowered = order.set_quantity(stickers, 1, key="lower")
    assert lowered.status_code == 200 and lowered.get_json()["total"] == before["total"] + 300

    worker = run_effects()
    order.close_window()
    wait_for_outbox(container, worker)
    own = intent_of(container, order, None)
    added = intent_of(container, order, created["checkout_id"])
    assert (own.status, own.amount_received) == ("succeeded", before["total"])
    assert (added.status, added.amount_received) == ("succeeded", 300)
    after = order.get().get_json()
    assert after["status"] == "captured" and after["payment"]["state"] == "captured"
    assert after["payment"]["captured_amount"] == after["total"] == before["total"] + 300
    assert [p["voided_amount"] for p in after["payments"]] == [0, 600]
    assert container.mirror.levels("demo")["STICKERS"] == on_hand(container, "STICKERS")
    assert add(order, "STICKERS", 1, "after").get_json()["error"]["code"] == "window_closed"
    clean = json.loads(run_cli(settings, "reconcile", "--json").stdout)
    assert (clean["payments_checked"], clean["payments"]) == (2, [])


@pytest.mark.usefixtures("webhooks")
def test_added_items_in_an_immediate_shop_are_charged_and_refunded_per_payment(
    client, container: Container, emulator: EmulatorServer, run_effects: Drain
) -> None:
    use_capture_mode(container, "immediate")
    order = buy(client, container, emulator.url, {"MUG-WHITE": 1})
    total = order.get().get_json()["total"]
    created = add(order, "MUG-WHITE", 2, "more-mugs").get_json()
    assert created["amount_total"] == 2400
    pay(emulator.url, created["session_id"])
    paid_into_order(container, created["checkout_id"])
    added = intent_of(container, order, created["checkout_id"])
    assert (added.status, added.amount_received) == ("succeeded", 2400)
    mugs = order.get().get_json()["lines"]
    assert [ln["quantity"] for ln in mugs] == [1, 2]  # the added line is a line of its own

    assert order.set_quantity(mugs[1]["id"], 1, key="one-less").status_code == 200
    assert order.cancel(key="cancel").status_code == 200
    run_effects()
    # One refund from the added payment for the lowered line, then each payment's rest.
    assert sorted(stripe_refunds(container, emulator.url, order.order_id)) == sorted(
        [1200, 1200, total]
    )
    view = order.get().get_json()
    assert view["payment"]["state"] == "refunded"
    assert [p["refunded_amount"] for p in view["payments"]] == [total, 2400]


def test_unpaid_added_items_lapse_and_leave_the_order_as_it_was(
    client, container: Container, emulator: EmulatorServer, run_effects: Drain
) -> None:
    use_capture_mode(container, "delayed")
    order = buy(client, container, emulator.url, {"MUG-WHITE": 1})
    before = order.get().get_json()
    stickers_reserved = reserved(container, "STICKERS")
    created = add(order, "STICKERS", 2, "unpaid").get_json()
    assert reserved(container, "STICKERS") == stickers_reserved + 2

    # The window ends and the hold, which lapses with it, is reaped.
    order.close_window()
    db(
        container,
        "UPDATE inventory_holds SET expires_at = now() - interval '1 second'"
        " WHERE checkout_id = %s RETURNING id",
        created["checkout_id"],
    )
    assert reap(container, datetime.now(UTC)) == 1
    assert reserved(container, "STICKERS") == stickers_reserved
    run_effects()

    session = container.payments.retrieve_session(order.shop, created["session_id"])
    assert session.status == "expired"
    after = order.get().get_json()
    assert after["lines"] == before["lines"] and after["total"] == before["total"]
    assert after["status"] == "captured" and len(after["payments"]) == 1
    assert order.intent().amount_received == before["total"]
    assert db(container, "SELECT count(*) FROM order_events") == 0


@pytest.mark.usefixtures("webhooks")
@pytest.mark.parametrize("mode", ["immediate", "delayed"])
def test_added_items_paid_after_the_window_are_given_back_in_full(
    client,
    container: Container,
    emulator: EmulatorServer,
    run_effects: Drain,
    mode: Literal["immediate", "delayed"],
) -> None:
    use_capture_mode(container, mode)
    order = buy(client, container, emulator.url, {"MUG-WHITE": 1})
    before = order.get().get_json()
    created = add(order, "STICKERS", 2, "late").get_json()
    order.close_window()
    pay(emulator.url, created["session_id"])
    wait_for(
        lambda: (
            db(
                container,
                "SELECT count(*) FROM audit_events WHERE kind = 'late_addition_refunded'",
            )
            == 1
        ),
        what="the late payment to be settled",
    )
    run_effects()
    pi = db(
        container,
        "SELECT payload->>'payment_intent_id' FROM outbox WHERE kind = 'stripe.refund'",
    )
    late = container.payments.retrieve_payment_intent(order.shop, pi)
    if mode == "immediate":
        refunds = emulator_state(emulator.url)["accounts"][API_KEY]["refunds"]
        assert (late.amount_received, refunds) == (600, 1)
        refund = "SELECT (payload->>'amount')::int FROM outbox WHERE kind = 'stripe.refund'"
        assert db(container, refund) == 600
    else:
        assert late.status == "canceled"  # an authorization is voided, never captured
    after = order.get().get_json()
    assert after["lines"] == before["lines"] and after["total"] == before["total"]
    assert len(after["payments"]) == 1
    assert db(container, "SELECT count(*) FROM outbox WHERE kind = 'stripe.refund'") == 1


def test_too_little_window_left_to_pay_is_refused_before_anything_is_held(
    client, container: Container, emulator: EmulatorServer
) -> None:
    use_capture_mode(container, "delayed")
    order = buy(client, container, emulator.url, {"MUG-WHITE": 1})
    stickers_reserved = reserved(container, "STICKERS")
    left = timedelta(minutes=20)
    db(
        container,
        "UPDATE orders SET created_at = now() - make_interval(secs => %s) WHERE id = %s"
        " RETURNING id",
        order.shop.capture_window_seconds - left.total_seconds(),
        order.order_id,
    )
    refused = add(order, "STICKERS", 1, "short")
    assert (refused.status_code, refused.get_json()["error"]["code"]) == (409, "window_closing")
    assert reserved(container, "STICKERS") == stickers_reserved
    assert db(container, "SELECT count(*) FROM checkouts WHERE order_id IS NOT NULL") == 0


@pytest.mark.usefixtures("webhooks")
def test_items_paid_once_capture_has_started_are_refunded_not_captured(
    client, container: Container, emulator: EmulatorServer
) -> None:
    """Capture took the order lock and closed the window first: the added items' payment
    finds the order capturing and goes back; the capture takes only what it read."""
    use_capture_mode(container, "delayed")
    order = buy(client, container, emulator.url, {"MUG-WHITE": 1})
    total = order.get().get_json()["total"]
    created = add(order, "STICKERS", 1, "racing").get_json()
    owed = begin_capture(container, "demo", order.order_id)
    assert owed is not None and [c.amount for c in owed] == [total]
    pay(emulator.url, created["session_id"])
    wait_for(
        lambda: db(container, "SELECT count(*) FROM outbox WHERE kind = 'stripe.refund'") == 1,
        what="the late payment to be refunded",
    )
    row = db(container, "SELECT id FROM outbox WHERE kind = 'stripe.capture'")
    assert perform_row(container, row) == "done"
    refund = db(container, "SELECT id FROM outbox WHERE kind = 'stripe.refund'")
    assert perform_row(container, refund) == "done"
    assert (order.intent().status, order.intent().amount_received) == ("succeeded", total)
    pi = db(container, "SELECT payload->>'payment_intent_id' FROM outbox WHERE id = %s", refund)
    assert container.payments.retrieve_payment_intent(order.shop, pi).status == "canceled"
    view = order.get().get_json()
    assert (view["status"], view["total"], len(view["payments"])) == ("captured", total, 1)


def test_items_added_down_to_the_low_stock_threshold_send_stock_low(
    client: Any, container: Container, emulator: EmulatorServer
) -> None:
    use_capture_mode(container, "immediate")
    order = buy(client, container, emulator.url, {"MUG-WHITE": 1})  # 49 of 50 available
    with container.uow() as uow:
        shop = uow.shops.get("demo")
        assert shop is not None
        uow.shops.upsert(shop.model_copy(update={"low_stock_threshold": 47}))
    assert add(order, "MUG-WHITE", 1, "one").status_code == 201  # 48: still above
    assert db(container, "SELECT count(*) FROM merchant_events WHERE type = 'stock.low'") == 0
    assert add(order, "MUG-WHITE", 1, "another").status_code == 201  # 47: low
    low = db(container, "SELECT data -> 'object' FROM merchant_events WHERE type = 'stock.low'")
    assert low == {"object": "stock_level", "sku": "MUG-WHITE", "available": 47, "threshold": 47}

"""The capture job over an order paid by two authorizations (its own, and one for items
added during the window): each settles for what it owes now, and a refusal of one after
the other was captured gives that money back. Real Postgres, emulator and capture job;
the supplementary session is fulfilled by reconciliation (no webhook endpoint here)."""

from __future__ import annotations

import uuid
from typing import Any

from integration.workers.window_support import API_KEY, Bought, buy, on_hand, use_capture_mode
from support import db, pay

from checkout.capture import begin_capture, payment_cancelled_in
from checkout.reconcile import reconcile_sessions
from kassa.bootstrap import Container
from stripe_emulator.server import EmulatorServer
from workers.jobs import perform_row


def add_paid_stickers(order: Bought, emulator: EmulatorServer, quantity: int) -> str:
    """Items added to the order and paid in their own session; returns that checkout's id."""
    resp = order.client.post(
        f"/api/orders/{order.reference}/lines",
        json={"sku": "STICKERS", "quantity": quantity},
        headers={**order.headers, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert resp.status_code == 201, resp.get_json()
    added: dict[str, Any] = resp.get_json()
    pay(emulator.url, added["session_id"])
    checked, found = reconcile_sessions(order.container, "demo")
    assert [f.outcome for f in found] == ["fulfilled"], (checked, found)
    return str(added["checkout_id"])


def payment_of(container: Container, order: Bought, checkout_id: str | None) -> dict[str, Any]:
    sql = (
        "SELECT json_build_object('pi', stripe_payment_intent_id, 'captured', captured_amount,"
        " 'voided', voided_amount) FROM payments WHERE order_id = %s AND checkout_id "
    )
    if checkout_id is None:
        row: dict[str, Any] = db(container, sql + "IS NULL", order.order_id)
    else:
        row = db(container, sql + "= %s", order.order_id, checkout_id)
    return row


def capture_now(container: Container, order: Bought) -> str:
    order.close_window()
    row = db(container, "SELECT id FROM outbox WHERE kind = 'stripe.capture'")
    outcome: str = perform_row(container, row)
    return outcome


def test_an_added_authorization_that_owes_nothing_is_voided_at_capture(
    client: Any, container: Container, emulator: EmulatorServer
) -> None:
    use_capture_mode(container, "delayed")
    order = buy(client, container, emulator.url, {"MUG-WHITE": 2})
    total = order.get().get_json()["total"]
    added = add_paid_stickers(order, emulator, 3)
    stickers = order.line_id("STICKERS")
    assert order.set_quantity(stickers, 0).status_code == 200

    assert capture_now(container, order) == "done"
    own, extra = payment_of(container, order, None), payment_of(container, order, added)
    assert (own["captured"], own["voided"]) == (total, 0)
    assert (extra["captured"], extra["voided"]) == (0, 900)
    intent = container.payments.retrieve_payment_intent(order.shop, extra["pi"])
    assert (intent.status, intent.amount_received) == ("canceled", 0)
    assert order.get().get_json()["status"] == "captured"


def test_a_refused_added_authorization_refunds_what_was_already_captured(
    client: Any, container: Container, emulator: EmulatorServer
) -> None:
    """The order's own authorization is captured, then Stripe refuses the added one (it
    was cancelled in the Dashboard): the order must not look paid, so the captured money
    is queued back, and every unit returns to stock."""
    use_capture_mode(container, "delayed")
    mugs, stickers = on_hand(container, "MUG-WHITE"), on_hand(container, "STICKERS")
    order = buy(client, container, emulator.url, {"MUG-WHITE": 2})
    total = order.get().get_json()["total"]
    added = add_paid_stickers(order, emulator, 3)
    extra_pi = payment_of(container, order, added)["pi"]
    container.payments.client(API_KEY).v1.payment_intents.cancel(extra_pi)

    assert capture_now(container, order) == "done"
    assert order.get().get_json()["status"] == "capture_failed"
    own, extra = payment_of(container, order, None), payment_of(container, order, added)
    assert own["captured"] == total and own["voided"] == 0  # captured, and left to the refund
    assert (extra["captured"], extra["voided"]) == (0, 900)
    refund = db(container, "SELECT payload FROM outbox WHERE kind = 'stripe.refund'")
    assert (refund["payment_intent_id"], refund["amount"]) == (own["pi"], total)
    assert db(container, "SELECT count(*) FROM outbox WHERE kind = 'stripe.void'") == 0
    assert on_hand(container, "MUG-WHITE") == mugs and on_hand(container, "STICKERS") == stickers


def test_nothing_is_captured_for_another_shop_no_order_or_a_cancelled_one(
    client: Any, container: Container, emulator: EmulatorServer
) -> None:
    use_capture_mode(container, "delayed")
    order = buy(client, container, emulator.url, {"MUG-WHITE": 1})
    assert begin_capture(container, "tokyo", order.order_id) is None
    assert begin_capture(container, "demo", uuid.uuid4()) is None
    assert db(container, "SELECT status FROM orders") == "authorized"  # the window stays open
    assert order.cancel().status_code == 200
    assert begin_capture(container, "demo", order.order_id) is None  # voided, not captured
    assert db(container, "SELECT status FROM orders") == "cancelled"
    pi = order.payment().stripe_payment_intent_id
    assert pi is not None
    with container.uow() as uow:  # Stripe reports the void we asked for: nothing to fail
        assert payment_cancelled_in(uow, "demo", pi) == "already_settled"
        assert payment_cancelled_in(uow, "demo", "pi_not_ours") == "unknown_payment"
    assert db(container, "SELECT status FROM orders") == "cancelled"
    assert db(container, "SELECT count(*) FROM audit_events WHERE kind = 'capture_failed'") == 0


def test_the_webhook_of_the_capture_jobs_own_void_fails_nothing(
    client: Any, container: Container, emulator: EmulatorServer
) -> None:
    """The capture job voids an added authorization that owes nothing, and Stripe's
    ``payment_intent.canceled`` for it arrives before the job has recorded the capture (or
    after the job died there). That is the job's void, not a lost authorization: the order
    is captured, its stock stays sold, and the void is recorded once."""
    use_capture_mode(container, "delayed")
    order = buy(client, container, emulator.url, {"MUG-WHITE": 2})
    total = order.get().get_json()["total"]
    mugs = on_hand(container, "MUG-WHITE")
    added = add_paid_stickers(order, emulator, 3)
    assert order.set_quantity(order.line_id("STICKERS"), 0).status_code == 200
    extra = payment_of(container, order, added)
    order.close_window()
    assert begin_capture(container, "demo", order.order_id) is not None  # the job started
    container.payments.cancel_payment_intent(order.shop, extra["pi"], idempotency_key="void")

    with container.uow() as uow:  # the webhook, while the order is still capturing
        assert payment_cancelled_in(uow, "demo", extra["pi"]) == "already_settled"

    row = db(container, "SELECT id FROM outbox WHERE kind = 'stripe.capture'")
    assert perform_row(container, row) == "done"  # the job's retry
    assert order.get().get_json()["status"] == "captured"
    assert payment_of(container, order, None)["captured"] == total
    assert payment_of(container, order, added)["voided"] == 900
    assert on_hand(container, "MUG-WHITE") == mugs
    voids = "SELECT count(*) FROM payment_events WHERE kind = 'voided'"
    assert db(container, voids) == 1
    assert db(container, "SELECT count(*) FROM audit_events WHERE kind = 'capture_failed'") == 0

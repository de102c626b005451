"""Fulfilment of the sessions that are not the happy path: items added to an order whose
payment arrives twice, short, unpaid, or after their stock went; sessions without a
PaymentIntent or customer details; and failures no retry can fix. ``fulfil`` is called as
the status page and reconciliation call it, with the session Stripe shows (or one altered
the way a broken or hostile sender would): every payment still ends as one order or one
refund, and nothing is refunded that was never paid."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import requests
from integration.workers.window_support import Bought, buy, on_hand, use_capture_mode
from support import db, lapse, pay

from checkout.fulfilment import fulfil, order_token
from checkout.ports import PaymentProviderError
from kassa.bootstrap import Container
from schemas.records import Shop
from schemas.stripe import CheckoutSession
from stripe_emulator.server import EmulatorServer

OUTBOX_KINDS = "SELECT coalesce(array_agg(kind ORDER BY kind), '{}') FROM outbox"


def session_of(container: Container, shop: Shop, session_id: str) -> CheckoutSession:
    return container.payments.retrieve_session(shop, session_id)


def add_items(order: Bought, sku: str, quantity: int) -> dict[str, Any]:
    resp = order.client.post(
        f"/api/orders/{order.reference}/lines",
        json={"sku": sku, "quantity": quantity},
        headers={**order.headers, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert resp.status_code == 201, resp.get_json()
    added: dict[str, Any] = resp.get_json()
    return added


def new_checkout(client: Any, sku: str = "MUG-WHITE", quantity: int = 2) -> dict[str, Any]:
    resp = client.post(
        "/api/checkout",
        json={"lines": [{"sku": sku, "quantity": quantity}]},
        headers={"X-Shop-Id": "demo", "Idempotency-Key": uuid.uuid4().hex},
    )
    assert resp.status_code == 201, resp.get_json()
    body: dict[str, Any] = resp.get_json()
    return body


def paid_as(session: CheckoutSession, **changes: Any) -> CheckoutSession:
    """The session as a sender claims it was paid."""
    return session.model_copy(update={"status": "complete", "payment_status": "paid", **changes})


def refunds(container: Container) -> list[int]:
    rows = db(
        container,
        "SELECT coalesce(array_agg((payload->>'amount')::int ORDER BY id), '{}')"
        " FROM outbox WHERE kind = 'stripe.refund'",
    )
    return list(rows)


def test_added_items_paid_short_then_in_full_are_refunded_once_and_never_added(
    client: Any, container: Container, emulator: EmulatorServer
) -> None:
    use_capture_mode(container, "immediate")
    order = buy(client, container, emulator.url, {"MUG-WHITE": 1})
    before = order.get().get_json()
    first = add_items(order, "STICKERS", 3)
    pay(emulator.url, first["session_id"])
    paid = session_of(container, order.shop, first["session_id"])
    assert fulfil(container, order.shop, paid).outcome == "fulfilled"
    again = fulfil(container, order.shop, paid)
    assert again.outcome == "existing" and again.order is not None
    assert again.order.total == before["total"] + 900

    second = add_items(order, "STICKERS", 1)
    pay(emulator.url, second["session_id"])
    true = session_of(container, order.shop, second["session_id"])
    assert fulfil(container, order.shop, true.model_copy(update={"amount_total": 1})).outcome == (
        "pricing_mismatch"
    )
    assert refunds(container) == [1]
    assert fulfil(container, order.shop, true).outcome == "refunded"
    assert refunds(container) == [1]
    after = order.get().get_json()
    assert after["total"] == before["total"] + 900
    assert [(ln["sku"], ln["quantity"]) for ln in after["lines"]] == [
        ("MUG-WHITE", 1),
        ("STICKERS", 3),
    ]


def test_added_items_whose_payment_is_still_pending_change_nothing(
    client: Any, container: Container, emulator: EmulatorServer
) -> None:
    use_capture_mode(container, "immediate")
    order = buy(client, container, emulator.url, {"MUG-WHITE": 1})
    before = order.get().get_json()
    added = add_items(order, "STICKERS", 2)
    pay(emulator.url, added["session_id"], outcome="async_pending")
    pending = session_of(container, order.shop, added["session_id"])
    assert fulfil(container, order.shop, pending).outcome == "not_paid"
    assert order.get().get_json() == before
    state = "SELECT state FROM checkouts WHERE id = %s"
    assert db(container, state, added["checkout_id"]) == "open"


def test_added_items_paid_after_their_stock_went_are_refunded_in_full(
    client: Any, container: Container, emulator: EmulatorServer
) -> None:
    use_capture_mode(container, "immediate")
    order = buy(client, container, emulator.url, {"MUG-WHITE": 1})
    before = order.get().get_json()
    added = add_items(order, "STICKERS", 2)
    lapse(container, added["checkout_id"])
    db(
        container,
        "UPDATE inventory_levels SET on_hand = reserved WHERE sku = 'STICKERS' RETURNING sku",
    )  # sold elsewhere meanwhile
    pay(emulator.url, added["session_id"])
    result = fulfil(container, order.shop, session_of(container, order.shop, added["session_id"]))
    assert result.outcome == "stock_conflict"
    assert refunds(container) == [added["amount_total"]]
    assert order.get().get_json()["total"] == before["total"]
    audit = "SELECT count(*) FROM audit_events WHERE kind = 'stock_conflict'"
    assert db(container, audit) == 1


def test_added_items_paid_without_a_payment_intent_are_added_without_a_metadata_sync(
    client: Any, container: Container, emulator: EmulatorServer
) -> None:
    use_capture_mode(container, "immediate")
    order = buy(client, container, emulator.url, {"MUG-WHITE": 1})
    before = order.get().get_json()
    added = add_items(order, "STICKERS", 1)
    pay(emulator.url, added["session_id"])
    session = session_of(container, order.shop, added["session_id"])
    result = fulfil(container, order.shop, session.model_copy(update={"payment_intent": None}))
    assert result.outcome == "fulfilled"
    assert order.get().get_json()["total"] == before["total"] + 300
    sync = "SELECT count(*) FROM outbox WHERE dedupe_key LIKE %s"
    assert db(container, sync, f"%-add-{added['checkout_id']}-metadata") == 0
    assert db(container, sync, f"%-add-{added['checkout_id']}-stock") == 1


def test_an_order_paid_without_a_payment_intent_or_customer_details(
    client: Any, container: Container, emulator: EmulatorServer
) -> None:
    """Nothing to label at Stripe and nobody to upsert: the order and its other effects; and
    cancelled, nothing to void or refund, only the stock to take back."""
    shop = use_capture_mode(container, "immediate")
    mugs = on_hand(container, "MUG-WHITE")
    co = new_checkout(client)
    session = paid_as(
        session_of(container, shop, co["session_id"]),
        payment_intent=None,
        customer_details=None,
        amount_total=co["amount_total"],
        currency="usd",
    )
    result = fulfil(container, shop, session)
    assert result.outcome == "fulfilled" and result.order is not None
    assert result.order.customer_email is None
    assert db(container, OUTBOX_KINDS) == ["email.order_confirmation", "stock_mirror.decrement"]

    token = order_token(container.settings.secret_key, result.order.id)
    cancelled = client.post(
        f"/api/orders/{result.order.reference}/cancel",
        headers={"X-Shop-Id": "demo", "X-Modification-Token": token},
    )
    assert cancelled.status_code == 200 and cancelled.get_json()["status"] == "cancelled"
    assert "stripe.void" not in db(container, OUTBOX_KINDS)  # no money to give back
    assert refunds(container) == []
    assert on_hand(container, "MUG-WHITE") == mugs


def test_sessions_without_a_payment_intent_settle_without_a_refund_to_send(
    client: Any, container: Container, emulator: EmulatorServer
) -> None:
    """A stock conflict and a pricing mismatch with no PaymentIntent to refund: both are
    settled and audited, and no refund is queued for money Stripe never took."""
    shop = use_capture_mode(container, "immediate")
    late = new_checkout(client, "STICKERS", 2)
    lapse(container, late["checkout_id"])
    db(
        container,
        "UPDATE inventory_levels SET on_hand = reserved WHERE sku = 'STICKERS' RETURNING sku",
    )
    conflict = paid_as(
        session_of(container, shop, late["session_id"]),
        payment_intent=None,
        amount_total=late["amount_total"],
        currency="usd",
    )
    assert fulfil(container, shop, conflict).outcome == "stock_conflict"

    short = new_checkout(client, "MUG-WHITE", 1)
    mismatch = paid_as(
        session_of(container, shop, short["session_id"]),
        payment_intent=None,
        amount_total=1,
        currency="usd",
    )
    assert fulfil(container, shop, mismatch).outcome == "pricing_mismatch"
    assert db(container, "SELECT state FROM checkouts WHERE id = %s", short["checkout_id"]) == (
        "refunded"
    )
    assert refunds(container) == []
    kinds = "SELECT array_agg(kind ORDER BY kind) FROM audit_events"
    assert db(container, kinds) == ["pricing_mismatch_detected", "stock_conflict"]


def test_failures_no_retry_can_fix_never_refund_an_unpaid_session(
    client: Any, container: Container, emulator: EmulatorServer
) -> None:
    """Delayed capture: whether a session is authorized is asked of Stripe, which refuses
    (no such PaymentIntent). With its checkout known, the failure is audited and nothing is
    refunded, since nothing was paid; the checkout stays live. Without a checkout of ours to
    settle, the error is the caller's (a 5xx for a webhook, a finding for reconciliation)."""
    shop = use_capture_mode(container, "delayed")
    co = new_checkout(client)
    session = session_of(container, shop, co["session_id"]).model_copy(
        update={"payment_intent": "pi_does_not_exist"}
    )
    assert session.payment_status == "unpaid"
    assert fulfil(container, shop, session).outcome == "fulfilment_failed"
    audit = "SELECT count(*) FROM audit_events WHERE kind = 'fulfilment_failed'"
    assert db(container, audit) == 1 and refunds(container) == []
    assert db(container, "SELECT state FROM checkouts") == "open"
    assert db(container, "SELECT count(*) FROM stripe_events") == 0

    for metadata in ({"shop_id": "demo", "checkout_id": str(uuid.uuid4())}, {"shop_id": "demo"}):
        stranger = session.model_copy(update={"metadata": metadata})
        with pytest.raises(PaymentProviderError):
            fulfil(container, shop, stranger)
    assert db(container, audit) == 1


def test_a_failure_after_the_order_was_made_answers_with_the_order(
    client: Any, container: Container, emulator: EmulatorServer
) -> None:
    """The order exists (a concurrent delivery made it); a later call that fails for good
    finds it and returns it, settling nothing."""
    use_capture_mode(container, "delayed")
    order = buy(client, container, emulator.url, {"MUG-WHITE": 1})
    session = session_of(container, order.shop, order.session_id)
    requests.post(
        f"{emulator.url}/_emulator/faults",
        json={"method": "GET", "path_prefix": "/v1/payment_intents/", "status": 400, "count": 20},
        timeout=5,
    ).raise_for_status()
    try:
        result = fulfil(container, order.shop, session)
    finally:
        requests.delete(f"{emulator.url}/_emulator/faults", timeout=5).raise_for_status()
    assert result.outcome == "existing" and result.order is not None
    assert result.order.reference == order.reference
    assert refunds(container) == []
    assert db(container, "SELECT count(*) FROM audit_events WHERE kind = 'fulfilment_failed'") == 0

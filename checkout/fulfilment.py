"""A paid session becomes exactly one order, or one full refund, in one transaction.

Called from the webhook, from the status endpoint (a webhook that is late or lost) and
from the periodic reconciliation: the checkout row lock makes concurrent callers queue, and
the first one to commit wins; everyone after finds the order and returns it.

Fulfilment is total. Whatever state the checkout is in when the money arrives (open,
expired, released, failed, its hold lapsed with the stock still there or gone), the
payment ends as one order or one refund. A deterministic error (a bug, a constraint the
data breaks) must not loop as a 5xx until Stripe gives up: ``fulfil`` settles it as a
refund with an audit row and a metric; only transient faults propagate, for a retry.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from prometheus_client import Counter
from pydantic import JsonValue

from checkout.allocation import allocate
from checkout.errors import OutOfStock
from checkout.faults import is_transient
from checkout.intent import hash_secret
from checkout.lifecycle import ORDERED_STATES, release_in
from checkout.merchant_events import emit_order_in, event_lines
from checkout.modifications import Change, email_in, record_in
from checkout.ports import Services
from checkout.stock_alerts import report_taken_in
from checkout.window import remaining_seconds, window_end
from repos.outbox import Queued
from repos.unit_of_work import UnitOfWork
from schemas.outbox import (
    Capture,
    CartClear,
    CustomerUpsert,
    OrderConfirmationEmail,
    PaymentMetadataSync,
    Refund,
    StockLine,
    StockMirrorDecrement,
)
from schemas.records import CheckoutRecord, HoldLine, OrderRecord, PaymentRecord, Shop
from schemas.stripe import CheckoutSession, StripeWebhookPayload

log = logging.getLogger(__name__)

Outcome = Literal[
    "fulfilled",
    "existing",
    "stock_conflict",
    "pricing_mismatch",
    "not_paid",
    "unknown_checkout",
    "refunded",
    "fulfilment_failed",
    "duplicate",
    "window_closed",
]

FULFIL_OUTCOMES: frozenset[str] = frozenset(
    {"fulfilled", "stock_conflict", "pricing_mismatch", "fulfilment_failed", "window_closed"}
)
"""Outcomes that settled a payment just now: an order, or the money on its way back."""

FULFILMENT_FAILURES = Counter(
    "kassa_fulfilment_failures_total",
    "Paid sessions whose fulfilment failed for good and were settled by a refund",
    ["error"],
)


@dataclass(frozen=True)
class Fulfilment:
    outcome: Outcome
    order: OrderRecord | None = None


def order_token(secret: str, order_id: uuid.UUID) -> str:
    """The customer's proof of ownership of an order (cookie ``kassa_order``); only its hash
    is stored, and the server can hand it out again to the browser that owns the checkout."""
    return hmac.new(secret.encode(), f"order-token:{order_id}".encode(), "sha256").hexdigest()


def _reference() -> str:
    alphabet = "ABCDEFGHJKMNPQRSTVWXYZ23456789"
    return "K-" + "".join(secrets.choice(alphabet) for _ in range(8))


def is_paid(session: CheckoutSession, authorized: bool) -> bool:
    """Paid, or (delayed capture) authorized: the PaymentIntent in ``requires_capture``."""
    return session.payment_status == "paid" or authorized


def payment_authorized(services: Services, shop: Shop, session: CheckoutSession) -> bool:
    """For manual capture, Stripe's session may say ``unpaid`` while the card is authorized:
    the PaymentIntent's ``requires_capture`` is the signal (a network call, made before any
    transaction is opened)."""
    if (
        session.payment_status == "paid"
        or shop.capture_mode != "delayed"
        or not session.payment_intent
    ):
        return False
    return (
        services.payments.retrieve_payment_intent(shop, session.payment_intent).status
        == "requires_capture"
    )


def fulfil_in(
    uow: UnitOfWork, services: Services, shop: Shop, session: CheckoutSession, authorized: bool
) -> Fulfilment:
    """The fulfilment transaction's body; the caller owns the unit of work."""
    try:
        checkout_id = uuid.UUID(
            session.metadata.get("checkout_id") or session.client_reference_id or ""
        )
    except ValueError:
        return Fulfilment("unknown_checkout")
    checkout = uow.checkouts.get(shop.id, checkout_id, lock=True)
    if checkout is None:
        return Fulfilment("unknown_checkout")
    if checkout.order_id is not None:
        return _add_to_order_in(uow, shop, checkout, session, authorized)
    if checkout.state in ORDERED_STATES:
        existing = uow.orders.by_checkout(checkout.id)
        assert existing is not None
        return Fulfilment("existing", existing)
    if checkout.state == "refunded":
        return Fulfilment("refunded")
    if not is_paid(session, authorized):
        return Fulfilment("not_paid")
    if (
        session.amount_total != checkout.total
        or (session.currency or "").lower() != checkout.currency
    ):
        return _pricing_mismatch_in(uow, shop, checkout, session)
    held = _take_stock_in(uow, shop, checkout)
    with uow.pipeline():
        order = _create_order_in(uow, services, shop, checkout, session, authorized, held is None)
        uow.inventory.settle_levels(shop.id, held or [], "committed")
    return Fulfilment("fulfilled" if held is not None else "stock_conflict", order)


def _take_stock_in(uow: UnitOfWork, shop: Shop, checkout: CheckoutRecord) -> list[HoldLine] | None:
    """Commit the hold: its lines are returned, for the caller to settle on the stock rows
    last (``settle_levels``), so a sale's hot rows stay locked only from there to the
    commit. If the hold lapsed (or was released), take the units now if they are still
    there (an empty list: nothing left to settle); None if they are gone. The lapsed hold
    rows stay as history; the new ones are placed beside them."""
    closed = uow.inventory.close_holds(checkout.id, "committed")
    if closed:
        return closed
    wanted = {line.sku: line.quantity for line in checkout.lines}
    levels = uow.inventory.lock_levels(shop.id, list(wanted))
    try:
        allocation = allocate(levels, wanted)
    except OutOfStock:
        return None
    uow.inventory.place_holds(
        shop.id, checkout.id, allocation, datetime.now(UTC), state="committed"
    )
    report_taken_in(uow, shop.id, shop.low_stock_threshold, levels, wanted)
    return []


def _pricing_mismatch_in(
    uow: UnitOfWork, shop: Shop, checkout: CheckoutRecord, session: CheckoutSession
) -> Fulfilment:
    """Stripe charged something other than our snapshot: never ship it; give the money back."""
    uow.audit.add(
        shop.id,
        "pricing_mismatch_detected",
        str(checkout.id),
        {
            "expected_total": checkout.total,
            "expected_currency": checkout.currency,
            "charged_total": session.amount_total,
            "charged_currency": session.currency,
            "session_id": session.id,
        },
    )
    _refund_checkout_in(uow, checkout, session, "pricing_mismatch")
    log.warning(
        "pricing mismatch; refund queued",
        extra={"shop_id": shop.id, "checkout_id": str(checkout.id)},
    )
    return Fulfilment("pricing_mismatch")


def _refund_checkout_in(
    uow: UnitOfWork,
    checkout: CheckoutRecord,
    session: CheckoutSession,
    reason: Literal["pricing_mismatch", "fulfilment_failed", "window_closed", "stock_conflict"],
) -> None:
    """No order will be made: free the stock, close the checkout, give all the money back
    (a refund, or a void of an authorization: the refund worker picks)."""
    release_in(uow, checkout, "refunded")
    if session.payment_intent and session.amount_total:
        uow.outbox.add_message(
            Refund(
                shop_id=checkout.shop_id,
                order_id=None,
                checkout_id=checkout.id,
                payment_intent_id=session.payment_intent,
                amount=session.amount_total,
                reason=reason,
            ),
            f"checkout-{checkout.id}-refund",
        )


def _add_to_order_in(
    uow: UnitOfWork,
    shop: Shop,
    checkout: CheckoutRecord,
    session: CheckoutSession,
    authorized: bool,
) -> Fulfilment:
    """A supplementary checkout (items added to a placed order, see checkout.additions)
    was paid. Under the order row lock (the lock capture and every change take): while
    the window is open, its lines become order lines in the same transaction as their
    payment row, the totals grow by exactly what it paid, and its holds are committed.
    After the window (or once capture started), or without the stock, the money goes
    back in full and the order stays as it was."""
    assert checkout.order_id is not None
    if uow.orders.payment_for_checkout(checkout.id) is not None:
        return Fulfilment("existing", uow.orders.get(checkout.order_id))
    if checkout.state == "refunded":
        return Fulfilment("refunded")
    if not is_paid(session, authorized):
        return Fulfilment("not_paid")
    order = uow.orders.get(checkout.order_id, lock=True)
    assert order is not None
    if (
        session.amount_total != checkout.total
        or (session.currency or "").lower() != checkout.currency
    ):
        return _pricing_mismatch_in(uow, shop, checkout, session)
    if remaining_seconds(order, datetime.now(UTC)) == 0:
        uow.audit.add(
            shop.id, "late_addition_refunded", order.reference, {"session_id": session.id}
        )
        _refund_checkout_in(uow, checkout, session, "window_closed")
        log.warning(
            "items paid after the window; refund queued", extra={"order_ref": order.reference}
        )
        return Fulfilment("window_closed", order)
    held = _take_stock_in(uow, shop, checkout)
    if held is None:
        uow.audit.add(shop.id, "stock_conflict", order.reference, {"checkout_id": str(checkout.id)})
        _refund_checkout_in(uow, checkout, session, "stock_conflict")
        return Fulfilment("stock_conflict", order)
    uow.inventory.settle_levels(shop.id, held, "committed")
    pi = session.payment_intent
    delayed = authorized and session.payment_status != "paid"
    uow.orders.add_payment(
        order.id,
        PaymentRecord(
            stripe_payment_intent_id=pi,
            amount=checkout.total,
            currency=checkout.currency,
            status="requires_capture" if delayed else "succeeded",
            refunded_amount=0,
            checkout_id=checkout.id,
        ),
    )
    uow.orders.add_lines(order.id, checkout.lines, checkout.id)
    total = order.total + checkout.total
    uow.orders.set_totals(
        order.id,
        subtotal=order.subtotal + checkout.subtotal,
        discount=order.discount,
        shipping=order.shipping,
        total=total,
    )
    uow.checkouts.set_state(checkout.id, "fulfilled")
    key = f"order-{order.id}-add-{checkout.id}"
    if pi:
        uow.outbox.add_message(
            PaymentMetadataSync(
                shop_id=shop.id, payment_intent_id=pi, order_reference=order.reference
            ),
            f"{key}-metadata",
        )
    uow.outbox.add_message(_units_sold(checkout, order), f"{key}-stock")
    email_in(uow, order, "items_added", key)
    details: dict[str, JsonValue] = {
        "checkout_id": str(checkout.id),
        "amount": checkout.total,
        "lines": [{"sku": ln.sku, "quantity": ln.quantity} for ln in checkout.lines],
    }
    record_in(uow, order, Change("items_added", total, details), "customer")
    return Fulfilment("fulfilled", uow.orders.get(order.id))


def _create_order_in(
    uow: UnitOfWork,
    services: Services,
    shop: Shop,
    checkout: CheckoutRecord,
    session: CheckoutSession,
    authorized: bool,
    conflict: bool,
) -> OrderRecord:
    """The order, its lines and its payment; then its side effects, queued in the same
    transaction."""
    now = datetime.now(UTC)
    order_id = uuid.uuid4()
    details = session.customer_details
    delayed = authorized and session.payment_status != "paid"
    order = OrderRecord(
        id=order_id,
        reference=_reference(),
        shop_id=shop.id,
        checkout_id=checkout.id,
        stripe_checkout_session_id=session.id,
        status="stock_conflict" if conflict else ("authorized" if delayed else "paid"),
        subtotal=checkout.subtotal,
        discount=checkout.discount,
        shipping=checkout.shipping,
        total=checkout.total,
        currency=checkout.currency,
        customer_email=details.email if details else None,
        customer_name=details.name if details else None,
        shipping_address=details.address.model_dump() if details and details.address else None,
        token_hash=hash_secret(order_token(services.settings.secret_key, order_id)),
        created_at=now,
        window_seconds=shop.capture_window_seconds,
    )
    pi = session.payment_intent
    uow.orders.add(
        order,
        checkout.lines,
        PaymentRecord(
            stripe_payment_intent_id=pi,
            amount=checkout.total,
            currency=checkout.currency,
            status="requires_capture" if delayed else "succeeded",
            refunded_amount=0,
        ),
    )
    uow.checkouts.set_state(checkout.id, "stock_conflict" if conflict else "fulfilled")
    _queue_effects_in(uow, shop, checkout, order, pi)
    return order


def _units_sold(checkout: CheckoutRecord, order: OrderRecord) -> StockMirrorDecrement:
    """The stock mirror's share of a paid checkout: its lines leave the shelf."""
    return StockMirrorDecrement(
        shop_id=checkout.shop_id,
        order_reference=order.reference,
        lines=[StockLine(sku=ln.sku, quantity=ln.quantity) for ln in checkout.lines],
    )


def _queue_effects_in(
    uow: UnitOfWork, shop: Shop, checkout: CheckoutRecord, order: OrderRecord, pi: str | None
) -> None:
    """Every side effect of a new order, as outbox rows with dedupe keys (one statement)."""
    order_id = order.id
    key = f"order-{order_id}"
    effects: list[Queued] = []
    if pi:
        effects.append(
            (
                PaymentMetadataSync(
                    shop_id=shop.id, payment_intent_id=pi, order_reference=order.reference
                ),
                f"{key}-metadata",
                None,
            )
        )
    if order.status == "stock_conflict":
        uow.audit.add(shop.id, "stock_conflict", order.reference, {"checkout_id": str(checkout.id)})
        if pi:
            refund = Refund(
                shop_id=shop.id,
                order_id=order_id,
                checkout_id=checkout.id,
                payment_intent_id=pi,
                amount=checkout.total,
                reason="stock_conflict",
            )
            effects.append((refund, f"{key}-refund", None))
        uow.outbox.add_messages(effects)
        log.warning(
            "stock conflict; refund queued",
            extra={"shop_id": shop.id, "order_ref": order.reference},
        )
        return
    effects += [
        (_units_sold(checkout, order), f"{key}-stock", None),
        (OrderConfirmationEmail(shop_id=shop.id, order_id=order_id), f"{key}-email", None),
    ]
    if order.customer_email:
        effects.append(
            (CustomerUpsert(shop_id=shop.id, order_id=order_id), f"{key}-customer", None)
        )
    if checkout.cart_id:
        effects.append((CartClear(shop_id=shop.id, cart_id=checkout.cart_id), f"{key}-cart", None))
    if order.status == "authorized" and pi:
        capture_at = window_end(order)
        effects.append(
            (
                Capture(shop_id=shop.id, order_id=order_id, payment_intent_id=pi),
                f"{key}-capture",
                capture_at,
            )
        )
    uow.outbox.add_messages(effects)
    emit_order_in(uow, "order.paid", order, event_lines(checkout.lines))
    log.info(
        "order created",
        extra={"shop_id": shop.id, "order_ref": order.reference, "checkout_id": str(checkout.id)},
    )


def fulfil(
    services: Services,
    shop: Shop,
    session: CheckoutSession,
    *,
    event: StripeWebhookPayload | None = None,
) -> Fulfilment:
    """Fulfil in a transaction of its own; with ``event``, record it in the same transaction
    (a duplicate delivery answers ``duplicate``). Transient faults propagate (the caller
    answers 5xx, or tries again on its next pass); any other error settles the payment as a
    refund, so no payment is ever left without an order or its money back."""
    authorized = False
    try:
        authorized = payment_authorized(services, shop, session)
        with services.uow() as uow:
            if event is not None and not uow.events.record(event.id, shop.id, event.type):
                return Fulfilment("duplicate")
            return fulfil_in(uow, services, shop, session, authorized)
    except Exception as exc:
        if is_transient(exc):
            raise
        return _settle_failure(services, shop, session, authorized, exc, event)


def _settle_failure(
    services: Services,
    shop: Shop,
    session: CheckoutSession,
    authorized: bool,
    error: Exception,
    event: StripeWebhookPayload | None,
) -> Fulfilment:
    """Fulfilment failed for a reason a retry will not change: record it, and give the money
    back. If this fails too (the database is gone), the error propagates and the caller's
    retry starts over from the top."""
    try:
        checkout_id = uuid.UUID(session.metadata.get("checkout_id") or "")
    except ValueError:
        raise error from None
    with services.uow() as uow:
        if event is not None:
            uow.events.record(event.id, shop.id, event.type)
        checkout = uow.checkouts.get(shop.id, checkout_id, lock=True)
        if checkout is None:
            raise error
        existing = uow.orders.by_checkout(checkout.id)
        if existing is not None:  # a concurrent delivery made the order meanwhile
            return Fulfilment("existing", existing)
        uow.audit.add(
            shop.id,
            "fulfilment_failed",
            str(checkout.id),
            {"error": type(error).__name__, "session_id": session.id},
        )
        if is_paid(session, authorized):  # unpaid: nothing to give back, the checkout stays
            _refund_checkout_in(uow, checkout, session, "fulfilment_failed")
    FULFILMENT_FAILURES.labels(type(error).__name__).inc()
    log.error(
        "fulfilment failed for good; payment settled by a refund",
        extra={"shop_id": shop.id, "checkout_id": str(checkout_id), "error": type(error).__name__},
    )
    return Fulfilment("fulfilment_failed")

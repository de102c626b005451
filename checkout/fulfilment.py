"""A paid session becomes exactly one order, with every side effect queued, in one transaction.

Called from the webhook, from the status endpoint (a webhook that is late or lost) and
from ``kassa reconcile``: the checkout row lock makes concurrent callers queue, and the
first one to commit wins; everyone after finds the order and returns it.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from checkout.allocation import allocate
from checkout.errors import OutOfStock
from checkout.intent import hash_secret
from checkout.ports import Services
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
from schemas.records import CheckoutRecord, OrderRecord, PaymentRecord, Shop
from schemas.stripe import CheckoutSession

log = logging.getLogger(__name__)

Outcome = Literal[
    "fulfilled", "existing", "stock_conflict", "pricing_mismatch", "not_paid", "unknown_checkout"
]


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
    existing = uow.orders.by_checkout(checkout.id)
    if existing is not None:
        return Fulfilment("existing", existing)
    if not is_paid(session, authorized):
        return Fulfilment("not_paid")
    if (
        session.amount_total != checkout.total
        or (session.currency or "").lower() != checkout.currency
    ):
        return _pricing_mismatch(uow, shop, checkout, session)
    conflict = not _take_stock(uow, shop, checkout)
    order = _create_order(uow, services, shop, checkout, session, authorized, conflict)
    return Fulfilment("stock_conflict" if conflict else "fulfilled", order)


def _take_stock(uow: UnitOfWork, shop: Shop, checkout: CheckoutRecord) -> bool:
    """Commit the hold; if it lapsed, take the units now if they are still there."""
    if uow.inventory.finish_holds(shop.id, checkout.id, "committed"):
        return True
    wanted = {line.sku: line.quantity for line in checkout.lines}
    try:
        allocation = allocate(uow.inventory.lock_levels(shop.id, list(wanted)), wanted)
    except OutOfStock:
        return False
    uow.inventory.place_holds(
        shop.id, checkout.id, allocation, datetime.now(UTC), state="committed"
    )
    return True


def _pricing_mismatch(
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
    uow.inventory.finish_holds(shop.id, checkout.id, "released")
    uow.checkouts.set_state(checkout.id, "failed")
    if session.payment_intent and session.amount_total:
        uow.outbox.add_message(
            Refund(
                shop_id=shop.id,
                order_id=None,
                checkout_id=checkout.id,
                payment_intent_id=session.payment_intent,
                amount=session.amount_total,
                reason="pricing_mismatch",
            ),
            f"checkout-{checkout.id}-mismatch-refund",
        )
    log.warning(
        "pricing mismatch; refund queued",
        extra={"shop_id": shop.id, "checkout_id": str(checkout.id)},
    )
    return Fulfilment("pricing_mismatch")


def _create_order(
    uow: UnitOfWork,
    services: Services,
    shop: Shop,
    checkout: CheckoutRecord,
    session: CheckoutSession,
    authorized: bool,
    conflict: bool,
) -> OrderRecord:
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
    key = f"order-{order_id}"
    if pi:
        uow.outbox.add_message(
            PaymentMetadataSync(
                shop_id=shop.id, payment_intent_id=pi, order_reference=order.reference
            ),
            f"{key}-metadata",
        )
    if conflict:
        uow.audit.add(shop.id, "stock_conflict", order.reference, {"checkout_id": str(checkout.id)})
        if pi:
            uow.outbox.add_message(
                Refund(
                    shop_id=shop.id,
                    order_id=order_id,
                    checkout_id=checkout.id,
                    payment_intent_id=pi,
                    amount=checkout.total,
                    reason="stock_conflict",
                ),
                f"{key}-refund",
            )
        log.warning(
            "stock conflict; refund queued",
            extra={"shop_id": shop.id, "order_ref": order.reference},
        )
        return order
    uow.outbox.add_message(
        StockMirrorDecrement(
            shop_id=shop.id,
            order_reference=order.reference,
            lines=[StockLine(sku=ln.sku, quantity=ln.quantity) for ln in checkout.lines],
        ),
        f"{key}-stock",
    )
    uow.outbox.add_message(
        OrderConfirmationEmail(shop_id=shop.id, order_id=order_id), f"{key}-email"
    )
    if order.customer_email:
        uow.outbox.add_message(
            CustomerUpsert(shop_id=shop.id, order_id=order_id), f"{key}-customer"
        )
    if checkout.cart_id:
        uow.outbox.add_message(CartClear(shop_id=shop.id, cart_id=checkout.cart_id), f"{key}-cart")
    if delayed and pi:
        uow.outbox.add_message(
            Capture(shop_id=shop.id, order_id=order_id, payment_intent_id=pi),
            f"{key}-capture",
            now + timedelta(seconds=shop.capture_window_seconds),
        )
    log.info(
        "order created",
        extra={"shop_id": shop.id, "order_ref": order.reference, "checkout_id": str(checkout.id)},
    )
    return order


def fulfil_session(services: Services, shop: Shop, session: CheckoutSession) -> Fulfilment:
    """Fulfil outside a webhook (status page, reconcile): same transaction, same rules."""
    authorized = payment_authorized(services, shop, session)
    with services.uow() as uow:
        return fulfil_in(uow, services, shop, session, authorized)

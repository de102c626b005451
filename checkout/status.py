"""What the success page may learn about a checkout: its state and order reference, no PII."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from checkout.errors import CheckoutNotFound
from checkout.fulfilment import fulfil
from checkout.intent import same_secret
from checkout.lifecycle import UNSETTLED_STATES
from checkout.ports import PaymentProviderError, Services
from checkout.window import remaining_seconds
from repos.unit_of_work import UnitOfWork
from schemas.checkout import CheckoutStatus, OrderSummary
from schemas.records import CheckoutRecord, OrderRecord, Shop


def order_summary(order: OrderRecord, now: datetime) -> OrderSummary:
    remaining = remaining_seconds(order, now)
    return OrderSummary(
        reference=order.reference,
        status=order.status,
        modification_allowed=remaining > 0,
        remaining_seconds=remaining,
    )


def owned_checkout(
    services: Services, shop: Shop, checkout_id: str, nonce: str | None
) -> CheckoutRecord:
    """The checkout, only for the browser holding its nonce; anyone else gets a plain 404."""
    try:
        cid = UUID(checkout_id)
    except ValueError:
        raise CheckoutNotFound() from None
    with services.uow() as uow:
        checkout = uow.checkouts.get(shop.id, cid)
    if checkout is None or not nonce or not same_secret(nonce, checkout.nonce_hash):
        raise CheckoutNotFound()
    return checkout


def checkout_status(services: Services, shop: Shop, checkout: CheckoutRecord) -> CheckoutStatus:
    """The state, after asking Stripe directly if the session may have been paid without a
    webhook reaching us yet (Stripe's recommended dual path)."""
    with services.uow() as uow:
        checkout, order = _current_in(uow, shop, checkout)
    if order is None and checkout.state in UNSETTLED_STATES and checkout.stripe_session_id:
        try:
            session = services.payments.retrieve_session(shop, checkout.stripe_session_id)
            if session.status == "complete":
                fulfil(services, shop, session)
        except PaymentProviderError:
            pass  # Stripe unreachable: report what we know; the webhook will still come
        with services.uow() as uow:
            checkout, order = _current_in(uow, shop, checkout)
    state = "open" if checkout.state == "pending" else checkout.state
    summary = order_summary(order, datetime.now(UTC)) if order else None
    return CheckoutStatus(state=state, order=summary, order_id=order.id if order else None)


def _current_in(
    uow: UnitOfWork, shop: Shop, checkout: CheckoutRecord
) -> tuple[CheckoutRecord, OrderRecord | None]:
    """The checkout and its order, never contradicting each other. An order commits with
    its checkout's settled state, but two reads are two snapshots: a webhook committing
    between them would pair an open checkout with its order. So the checkout is read
    again when its order was seen and it still looked unsettled."""
    checkout = uow.checkouts.get(shop.id, checkout.id) or checkout
    order = uow.orders.by_checkout(checkout.id)
    if order is not None and checkout.state in UNSETTLED_STATES:  # pragma: no cover - a race
        checkout = uow.checkouts.get(shop.id, checkout.id) or checkout  # settled meanwhile
    return checkout, order

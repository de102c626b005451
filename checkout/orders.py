"""An order, for its owner: proven by the order token, never by knowing the reference."""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from uuid import UUID

from checkout.errors import OrderNotFound, Unauthorized
from checkout.intent import same_secret
from checkout.ports import Services
from checkout.window import payment_state, remaining_seconds, window_end
from repos.unit_of_work import UnitOfWork
from schemas.orders import OrderLineView, OrderView, PaymentView
from schemas.records import OrderRecord, PaymentRecord, Shop

LINK_READ_DAYS = 90
"""An emailed order link opens the order for this long after the order was created (the
window itself, for changes, is far shorter and checked separately)."""


def order_link_token(secret: str, order_id: UUID) -> str:
    """The token of the emailed order link: single-purpose (it can only be exchanged for the
    order cookie, never used as one) and derived from the order, so it needs no storage."""
    return hmac.new(secret.encode(), f"order-link:{order_id}".encode(), "sha256").hexdigest()


def order_link_path(secret: str, order: OrderRecord) -> str:
    return f"/orders/{order.reference}/access?token={order_link_token(secret, order.id)}"


def redeem_order_link(
    services: Services, shop: Shop, reference: str, link_token: str, now: datetime
) -> tuple[OrderRecord, int]:
    """The order and how many seconds its cookie may live, if the link is genuine and
    younger than ``LINK_READ_DAYS`` counted from the order's creation (never from when
    the link was sent or opened)."""
    with services.uow() as uow:
        order = uow.orders.by_reference(shop.id, reference)
    if order is None:
        raise OrderNotFound()
    expected = order_link_token(services.settings.secret_key, order.id)
    expires = order.created_at + timedelta(days=LINK_READ_DAYS)
    if not hmac.compare_digest(expected, link_token) or now >= expires:
        raise OrderNotFound("This order link is not valid or has expired.")
    return order, int((expires - now).total_seconds())


def owned_order_in(
    uow: UnitOfWork, shop: Shop, reference: str, tokens: Sequence[str]
) -> OrderRecord:
    """The order, if one of ``tokens`` proves ownership (a browser may send several order
    cookies, one of them for this order); 401 without a token, 404 when none fits (the
    same 404 as an unknown reference, so a stranger learns nothing)."""
    if not tokens:
        raise Unauthorized("Order access needs the kassa_order cookie or X-Modification-Token.")
    order = uow.orders.by_reference(shop.id, reference)
    if order is None or not any(same_secret(token, order.token_hash) for token in tokens):
        raise OrderNotFound()
    return order


def order_view_in(uow: UnitOfWork, order: OrderRecord, now: datetime) -> OrderView:
    lines = uow.orders.lines(order.id)
    payments = uow.orders.payments(order.id)
    remaining = remaining_seconds(order, now)
    return OrderView(
        reference=order.reference,
        status=order.status,
        currency=order.currency,
        lines=[
            OrderLineView(
                id=ln.id,
                sku=ln.sku,
                name=ln.name,
                quantity=ln.quantity,
                unit_amount=ln.unit_amount,
                line_total=ln.line_total,
            )
            for ln in lines
        ],
        subtotal=order.subtotal,
        discount=order.discount,
        shipping=order.shipping,
        total=order.total,
        refunded_amount=sum(p.refunded_amount for p in payments),
        payment=_payment_view(payments) if payments else None,
        payments=[_payment_view([p]) for p in payments],
        modification_allowed=remaining > 0,
        remaining_seconds=remaining,
        window_ends_at=window_end(order),
        customer_email=order.customer_email,
        customer_name=order.customer_name,
        shipping_address=order.shipping_address,
        created_at=order.created_at,
    )


def _payment_view(payments: list[PaymentRecord]) -> PaymentView:
    return PaymentView(
        state=payment_state(payments),
        capture_method=payments[0].capture_method,
        authorized_amount=sum(p.amount for p in payments),
        captured_amount=sum(p.captured_amount for p in payments),
        voided_amount=sum(p.voided_amount for p in payments),
        refunded_amount=sum(p.refunded_amount for p in payments),
    )


def order_for_owner(
    services: Services, shop: Shop, reference: str, tokens: Sequence[str]
) -> OrderView:
    with services.uow() as uow:
        order = owned_order_in(uow, shop, reference, tokens)
        return order_view_in(uow, order, datetime.now(UTC))

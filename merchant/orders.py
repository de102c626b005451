"""Orders for the merchant: list and read them with their history, refund (whole, by line,
or an amount), cancel, and mark shipped.

Every change takes the order row lock that the customer's changes and the capture job take
too (``checkout.modifications``, ``checkout.capture``), so they never interleave. Money goes
back through the outbox (a ``stripe.refund`` row whose dedupe key is Stripe's idempotency
key), and a refund is accepted only if the refunds already asked for plus this one stay
within what was captured: under the lock, concurrent refunds cannot exceed it together.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from uuid import UUID

from pydantic import JsonValue

from checkout.errors import InvalidRequest, OrderNotChangeable, OrderNotFound, RefundExceedsCaptured
from checkout.modifications import Change, cancel_in, record_in
from checkout.orders import order_view_in
from checkout.ports import Services
from repos.unit_of_work import UnitOfWork
from schemas.merchant_orders import (
    FulfilRequest,
    MerchantOrder,
    OrderEventView,
    OrderListItem,
    OrderPage,
    PaymentEventView,
    RefundAccepted,
    RefundRequest,
)
from schemas.outbox import OrderChangeEmail, Refund
from schemas.records import OrderRecord, OrderStatus, Shop

PAGE_MAX = 100
REFUNDABLE: tuple[OrderStatus, ...] = ("paid", "captured", "fulfilled", "refunded")
CANCELLABLE: tuple[OrderStatus, ...] = ("paid", "authorized", "captured")
SHIPPABLE: tuple[OrderStatus, ...] = ("paid", "captured")
"""An authorized order is shipped after its capture at the window's end, not before."""


def encode_cursor(order: OrderRecord) -> str:
    raw = f"{order.created_at.isoformat()}|{order.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        when, _, order_id = raw.partition("|")
        return datetime.fromisoformat(when), UUID(order_id)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidRequest("The cursor is not one this API gave out.") from None


def list_orders(
    services: Services,
    shop_id: str,
    *,
    status: str | None = None,
    reference: str | None = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> OrderPage:
    limit = max(1, min(limit, PAGE_MAX))
    with services.uow() as uow:
        found = uow.orders.page(
            shop_id,
            status=status,
            reference=reference,
            created_from=created_from,
            created_to=created_to,
            before=decode_cursor(cursor) if cursor else None,
            limit=limit + 1,
        )
    page = found[:limit]
    return OrderPage(
        orders=[
            OrderListItem(
                reference=o.reference,
                status=o.status,
                currency=o.currency,
                total=o.total,
                created_at=o.created_at,
                fulfilled_at=o.fulfilled_at,
            )
            for o in page
        ],
        next_cursor=encode_cursor(page[-1]) if len(found) > limit else None,
    )


def _locked_in(uow: UnitOfWork, shop: Shop, reference: str) -> OrderRecord:
    order = uow.orders.lock_by_reference(shop.id, reference)
    if order is None:
        raise OrderNotFound()
    return order


def detail_in(uow: UnitOfWork, shop: Shop, order: OrderRecord) -> MerchantOrder:
    view = order_view_in(uow, order, datetime.now(UTC))
    payment = uow.orders.payment(order.id)
    requested = uow.outbox.refunds_requested(order.id)
    # Refunds go to the order's own payment; items added during the window were paid by
    # payments of their own, which only the customer's changes refund.
    own_requested = (
        uow.outbox.refunds_requested(order.id, payment.stripe_payment_intent_id)
        if payment and payment.stripe_payment_intent_id
        else 0
    )
    return MerchantOrder(
        **view.model_dump(),
        fulfilled_at=order.fulfilled_at,
        tracking_reference=order.tracking_reference,
        refunds_requested=requested,
        refundable=max(0, (payment.captured_amount if payment else 0) - own_requested),
        payment_events=[
            PaymentEventView.model_validate(e.model_dump())
            for e in uow.orders.payment_events(order.id)
        ],
        events=[
            OrderEventView.model_validate(e.model_dump())
            for e in uow.order_events.for_order(order.id)
        ],
    )


def order_detail(services: Services, shop: Shop, reference: str) -> MerchantOrder:
    with services.uow() as uow:
        order = uow.orders.by_reference(shop.id, reference)
        if order is None:
            raise OrderNotFound()
        return detail_in(uow, shop, order)


def refund_in(
    uow: UnitOfWork, shop: Shop, reference: str, body: RefundRequest
) -> tuple[int, RefundAccepted]:
    """Queue one refund: the whole remainder, some lines (unit price times quantity), or an
    amount. Money only: a refunded line's units stay sold (they left the warehouse)."""
    order = _locked_in(uow, shop, reference)
    payment = uow.orders.payment(order.id)
    if order.status not in REFUNDABLE or payment is None or not payment.stripe_payment_intent_id:
        raise OrderNotChangeable(details={"status": order.status})
    requested = uow.outbox.refunds_requested(order.id, payment.stripe_payment_intent_id)
    refundable = payment.captured_amount - requested
    amount = body.amount if body.amount is not None else refundable
    if body.lines is not None:
        lines = {ln.id: ln for ln in uow.orders.lines(order.id)}
        unknown = [r.line_id for r in body.lines if r.line_id not in lines]
        too_many = [
            r.line_id
            for r in body.lines
            if r.line_id in lines and r.quantity > lines[r.line_id].quantity
        ]
        if unknown or too_many:
            raise InvalidRequest(
                details={"unknown_lines": unknown, "quantity_above_line": too_many}
            )
        amount = sum(lines[r.line_id].unit_amount * r.quantity for r in body.lines)
    if amount <= 0 or amount > refundable:
        raise RefundExceedsCaptured(details={"requested": amount, "refundable": max(0, refundable)})
    uow.outbox.add_message(
        Refund(
            shop_id=shop.id,
            order_id=order.id,
            checkout_id=order.checkout_id,
            payment_intent_id=payment.stripe_payment_intent_id,
            amount=amount,
            reason="requested_by_merchant",
        ),
        # Refunds asked so far only grow, so this names each refund of the order once.
        f"order-{order.id}-refund-after-{requested}",
    )
    details: dict[str, JsonValue] = {
        "amount": amount,
        "lines": [r.model_dump() for r in body.lines or []],
    }
    record_in(uow, order, Change("refund_requested", order.total, details), "merchant")
    return 201, RefundAccepted(
        reference=order.reference,
        amount=amount,
        refunds_requested=requested + amount,
        refundable=refundable - amount,
    )


def cancel_order_in(uow: UnitOfWork, shop: Shop, reference: str) -> tuple[int, MerchantOrder]:
    """Cancel before shipping: stock back, the authorization voided or the rest refunded."""
    order = _locked_in(uow, shop, reference)
    if order.status not in CANCELLABLE:
        raise OrderNotChangeable(details={"status": order.status})
    record_in(uow, order, cancel_in(uow, order), "merchant")
    after = uow.orders.get(order.id)
    assert after is not None
    return 200, detail_in(uow, shop, after)


def mark_fulfilled_in(
    uow: UnitOfWork, shop: Shop, reference: str, body: FulfilRequest
) -> tuple[int, MerchantOrder]:
    """Shipped: the order becomes ``fulfilled`` (which closes the customer's window), the
    customer gets an email with the tracking reference, and the merchant's systems hear
    ``order.fulfilled``."""
    order = _locked_in(uow, shop, reference)
    if order.status not in SHIPPABLE:
        raise OrderNotChangeable(details={"status": order.status})
    uow.orders.mark_fulfilled(order.id, body.tracking_reference)
    uow.outbox.add_message(
        OrderChangeEmail(shop_id=shop.id, order_id=order.id, change="shipped"),
        f"order-{order.id}-shipped-email",
    )
    record_in(
        uow,
        order,
        Change("fulfilled", order.total, {"tracking_reference": body.tracking_reference}),
        "merchant",
        merchant_event="order.fulfilled",
    )
    after = uow.orders.get(order.id)
    assert after is not None
    return 200, detail_in(uow, shop, after)

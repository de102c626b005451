"""Changes an order's owner may make while its modification window is open: cancel it,
change the shipping address, lower a line's quantity (adding items is checkout.additions).

Every change runs in one transaction under the order row lock, the same lock the capture
job takes: a change that commits first is what gets captured, and a change that arrives
once capture has started finds the order ``capturing`` (or later) and gets
``window_closed``. Money moves only through the outbox (void, capture, refund), each with
a dedupe key that is also Stripe's idempotency key. Every change is an order event (no
personal data), and an ``Idempotency-Key`` replays the change's answer instead of
applying it twice.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal
from uuid import UUID

from pydantic import JsonValue

from checkout.errors import (
    AmountIncreaseNotAllowed,
    IdempotencyKeyReused,
    InvalidRequest,
    UnknownLine,
    WindowClosed,
)
from checkout.merchant_events import emit_order_in
from checkout.order_payments import key_suffix, line_checkout, owed_in
from checkout.orders import order_view_in, owned_order_in
from checkout.ports import Services
from checkout.pricing import price_cart, total_quantities
from checkout.window import OPEN_STATUSES, remaining_seconds
from repos.unit_of_work import UnitOfWork
from schemas.checkout import PricedCart
from schemas.merchant_events import EventType
from schemas.orders import AddressInput, OrderView
from schemas.outbox import OrderChangeEmail, Refund, StockLine, StockMirrorDecrement, Void
from schemas.records import (
    OrderActor,
    OrderLineRecord,
    OrderRecord,
    Product,
    ShippingOption,
    Shop,
)

log = logging.getLogger(__name__)

MAX_QUANTITY = 999


@dataclass(frozen=True)
class ChangeRequest:
    """Who asks for which change, and the key that makes asking twice safe."""

    shop: Shop
    reference: str
    tokens: tuple[str, ...]
    idempotency_key: str | None


@dataclass(frozen=True)
class Change:
    """What a change did, for its order event: totals and details without personal data."""

    kind: str
    total_after: int
    details: dict[str, JsonValue]


Apply = Callable[[UnitOfWork, OrderRecord, str], Change | None]
"""Applies one change under the order lock; its third argument is the change's key, the
prefix of the dedupe keys of the effects it queues."""
EmailChange = Literal[
    "cancelled",
    "address_changed",
    "quantity_changed",
    "capture_failed",
    "shipped",
    "items_added",
]


def _request_hash(kind: str, body: dict[str, JsonValue]) -> str:
    return hashlib.sha256(json.dumps([kind, body], sort_keys=True).encode()).hexdigest()


def _modify(
    services: Services, req: ChangeRequest, kind: str, body: dict[str, JsonValue], apply: Apply
) -> OrderView:
    """Check ownership, take the order lock, replay or check the window, apply, record."""
    request_hash = _request_hash(kind, body)
    with services.uow() as uow:
        owned = owned_order_in(uow, req.shop, req.reference, req.tokens)
        order = uow.orders.get(owned.id, lock=True)
        assert order is not None
        now = datetime.now(UTC)
        prior = (
            uow.order_events.by_key(order.id, req.idempotency_key) if req.idempotency_key else None
        )
        if prior is not None:
            if prior.request_hash != request_hash:
                raise IdempotencyKeyReused(
                    "This Idempotency-Key was already used for a different change."
                )
            return order_view_in(uow, order, now)
        if remaining_seconds(order, now) == 0:
            raise WindowClosed()
        key = f"order-{order.id}-change-{len(uow.order_events.for_order(order.id)) + 1}"
        change = apply(uow, order, key)
        if change is not None:
            record_in(uow, order, change, "customer", req.idempotency_key, request_hash)
        after = uow.orders.get(order.id)
        assert after is not None
        return order_view_in(uow, after, now)


def record_in(
    uow: UnitOfWork,
    order: OrderRecord,
    change: Change,
    actor: OrderActor,
    idempotency_key: str | None = None,
    request_hash: str | None = None,
    merchant_event: EventType | None = None,
) -> int:
    """The order event of a change (``order`` as it was before it), and the merchant's
    ``merchant_event`` (by default ``order.updated``, or ``order.cancelled`` once the order
    is closed) carrying the order as it is now."""
    event_id = uow.order_events.add(
        order.shop_id,
        order.id,
        change.kind,
        actor=actor,
        total_before=order.total,
        total_after=change.total_after,
        details=change.details,
        idempotency_key=idempotency_key,
        request_hash=request_hash,
    )
    after = uow.orders.get(order.id)
    assert after is not None
    if merchant_event is None:
        merchant_event = "order.updated" if after.status in OPEN_STATUSES else "order.cancelled"
    emit_order_in(uow, merchant_event, after)
    log.info(
        "order changed",
        extra={
            "shop_id": order.shop_id,
            "order_ref": order.reference,
            "change": change.kind,
            "actor": actor,
            "total_before": order.total,
            "total_after": change.total_after,
        },
    )
    return event_id


def _return_stock_in(
    uow: UnitOfWork, order: OrderRecord, returned: list[tuple[OrderLineRecord, int]], key: str
) -> None:
    """Units of ``(line, units)`` back on hand in Postgres now, to the holds of the checkout
    that paid for each line, and in the Redis mirror through the outbox (a return is a
    negative decrement, so ``kassa reconcile`` treats both alike). Every ``units`` is
    positive: a line holds at least one unit (a CHECK), and a change only ever lowers it."""
    by_checkout: dict[UUID, dict[str, int]] = {}
    for line, qty in returned:
        units = by_checkout.setdefault(line_checkout(order, line), {})
        units[line.sku] = units.get(line.sku, 0) + qty
    for checkout_id, units in by_checkout.items():
        uow.inventory.return_units(order.shop_id, checkout_id, units)
    total = total_quantities((sku, q) for units in by_checkout.values() for sku, q in units.items())
    uow.outbox.add_message(
        StockMirrorDecrement(
            shop_id=order.shop_id,
            order_reference=order.reference,
            lines=[StockLine(sku=sku, quantity=-qty) for sku, qty in sorted(total.items())],
        ),
        f"{key}-stock",
    )


def email_in(uow: UnitOfWork, order: OrderRecord, change: EmailChange, key: str) -> None:
    uow.outbox.add_message(
        OrderChangeEmail(shop_id=order.shop_id, order_id=order.id, change=change),
        f"{key}-email",
    )


def cancel_in(
    uow: UnitOfWork,
    order: OrderRecord,
    *,
    kind: str = "cancelled",
    gone: str | None = None,
    email: EmailChange = "cancelled",
) -> Change:
    """The whole order: stock back, every authorization voided (delayed capture, unless
    it is ``gone``: Stripe already dropped it) or every payment refunded
    (immediate capture), the order ``cancelled``, an email queued.

    An immediate order's partial refunds for earlier decreases are already queued, so
    what is left to refund of each payment is what it owes now, less any refund the
    merchant asked of it (never more than it captured and was not yet asked back)."""
    key = f"order-{order.id}-cancel"
    lines = uow.orders.lines(order.id)
    _return_stock_in(uow, order, [(ln, ln.quantity) for ln in lines], key)
    for owed in owed_in(uow, order):
        payment, pi = owed.payment, owed.payment.stripe_payment_intent_id
        if not pi:
            continue
        if payment.captured_amount == 0:
            if pi != gone:
                uow.outbox.add_message(
                    Void(shop_id=order.shop_id, order_id=order.id, payment_intent_id=pi),
                    f"{key}-void{key_suffix(payment)}",
                )
            continue
        refundable = min(
            owed.amount, payment.captured_amount - uow.outbox.refunds_requested(order.id, pi)
        )
        if refundable > 0:
            uow.outbox.add_message(
                Refund(
                    shop_id=order.shop_id,
                    order_id=order.id,
                    checkout_id=payment.checkout_id or order.checkout_id,
                    payment_intent_id=pi,
                    amount=refundable,
                    reason="requested_by_customer",
                ),
                f"{key}-refund{key_suffix(payment)}",
            )
    uow.orders.set_status(order.id, "cancelled")
    email_in(uow, order, email, key)
    return Change(
        kind,
        0,
        {"lines": [{"line_id": ln.id, "sku": ln.sku, "quantity": ln.quantity} for ln in lines]},
    )


def cancel_order(services: Services, req: ChangeRequest) -> OrderView:
    return _modify(services, req, "cancel", {}, lambda uow, order, _key: cancel_in(uow, order))


def change_address(services: Services, req: ChangeRequest, address: AddressInput) -> OrderView:
    def apply(uow: UnitOfWork, order: OrderRecord, key: str) -> Change:
        uow.orders.set_shipping_address(order.id, address.model_dump())
        email_in(uow, order, "address_changed", key)
        return Change("address_changed", order.total, {})

    return _modify(services, req, "address", address.model_dump(), apply)


def reprice_in(
    uow: UnitOfWork, shop: Shop, order: OrderRecord, quantities: dict[str, int]
) -> PricedCart:
    """The order's total for new quantities, by checkout's own pricing code, with the
    prices, shipping and coupon the order was sold with (not today's catalog)."""
    checkout = uow.checkouts.get(shop.id, order.checkout_id)
    assert checkout is not None
    products = {
        ln.sku: Product(
            shop_id=shop.id,
            sku=ln.sku,
            product_code=ln.sku,
            name=ln.name,
            attributes={},
            unit_amount=ln.unit_amount,
            currency=order.currency,
            active=True,
        )
        for ln in checkout.lines
    }
    shipping = ShippingOption(id=checkout.shipping_option_id or "", name="", amount=order.shipping)
    return price_cart(order.currency, quantities, products, shipping, checkout.sold_coupon())


def set_line_quantity(
    services: Services, req: ChangeRequest, line_id: int, quantity: int
) -> OrderView:
    if not 0 <= quantity <= MAX_QUANTITY:
        raise InvalidRequest(f"A quantity is a whole number from 0 to {MAX_QUANTITY}.")

    def apply(uow: UnitOfWork, order: OrderRecord, key: str) -> Change | None:
        lines = uow.orders.lines(order.id)
        line = next((ln for ln in lines if ln.id == line_id), None)
        if line is None:
            raise UnknownLine("No such line in this order.")
        if quantity > line.quantity:
            raise AmountIncreaseNotAllowed()
        if quantity == line.quantity:
            return None
        if quantity == 0 and len(lines) == 1:
            return cancel_in(uow, order, kind="cancelled_last_line")
        return _lower_in(uow, req.shop, order, lines, line, quantity, key)

    return _modify(services, req, f"line:{line_id}", {"quantity": quantity}, apply)


def _lower_in(
    uow: UnitOfWork,
    shop: Shop,
    order: OrderRecord,
    lines: list[OrderLineRecord],
    line: OrderLineRecord,
    quantity: int,
    key: str,
) -> Change:
    """Lower one line. The order's own lines are repriced with its coupon and shipping; an
    added line is repriced alone, since it carries neither (see checkout.order_payments).
    The payment that paid for the line is the one refunded (immediate capture)."""
    new_lines = [
        ln.model_copy(update={"quantity": quantity}) if ln.id == line.id else ln for ln in lines
    ]
    own = total_quantities((ln.sku, ln.quantity) for ln in new_lines if ln.checkout_id is None)
    priced = reprice_in(uow, shop, order, {sku: q for sku, q in own.items() if q > 0})
    added = sum(ln.unit_amount * ln.quantity for ln in new_lines if ln.checkout_id is not None)
    total = priced.total + added
    if total > order.total:  # pragma: no cover - sold prices and coupon: lower never costs more
        raise AmountIncreaseNotAllowed()
    uow.orders.set_line_quantity(line.id, quantity)
    uow.orders.set_totals(
        order.id,
        subtotal=priced.subtotal + added,
        discount=priced.discount,
        shipping=priced.shipping,
        total=total,
    )
    change = Change(
        "quantity_changed",
        total,
        {
            "line_id": line.id,
            "sku": line.sku,
            "quantity_before": line.quantity,
            "quantity_after": quantity,
        },
    )
    _return_stock_in(uow, order, [(line, line.quantity - quantity)], key)
    payment = next(
        (p for p in uow.orders.payments(order.id) if p.checkout_id == line.checkout_id), None
    )
    pi = payment.stripe_payment_intent_id if payment else None
    if order.status == "paid" and payment and pi:
        # Never more than the payment still holds: what the merchant refunded already is
        # not refunded twice (a cancel's refund follows the same rule).
        refund = min(
            order.total - total,
            payment.captured_amount - uow.outbox.refunds_requested(order.id, pi),
        )
        if refund > 0:
            uow.outbox.add_message(
                Refund(
                    shop_id=order.shop_id,
                    order_id=order.id,
                    checkout_id=line_checkout(order, line),
                    payment_intent_id=pi,
                    amount=refund,
                    reason="requested_by_customer",
                ),
                f"{key}-refund",
            )
    email_in(uow, order, "quantity_changed", key)
    return change

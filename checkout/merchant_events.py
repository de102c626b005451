"""Events out: record what happened to a shop's orders, and queue one delivery per
subscribed endpoint, in the transaction of the change itself (so an event exists exactly
when its change committed, and is delivered at least once)."""

from __future__ import annotations

import secrets

from pydantic import JsonValue

from repos.unit_of_work import UnitOfWork
from schemas.merchant_events import EventOrder, EventOrderLine, EventType
from schemas.outbox import MerchantWebhook
from schemas.records import OrderLineRecord, OrderRecord, PricedLine, with_variant


def event_lines(lines: list[OrderLineRecord] | list[PricedLine]) -> list[EventOrderLine]:
    """Order lines as events carry them, from the stored lines or, for a new order, from
    the checkout snapshot they were written from (so fulfilment need not read them back)."""
    return [
        EventOrderLine(
            sku=ln.sku,
            name=with_variant(ln.name, ln.variant) if isinstance(ln, PricedLine) else ln.name,
            quantity=ln.quantity,
            unit_amount=ln.unit_amount,
            line_total=ln.line_total,
        )
        for ln in lines
    ]


def order_data(order: OrderRecord, lines: list[EventOrderLine]) -> dict[str, JsonValue]:
    """The order as events carry it: no customer contact details (see schemas)."""
    return EventOrder(
        id=order.id,
        reference=order.reference,
        status=order.status,
        currency=order.currency,
        subtotal=order.subtotal,
        discount=order.discount,
        shipping=order.shipping,
        total=order.total,
        created_at=order.created_at,
        lines=lines,
    ).model_dump(mode="json")


def emit_order_in(
    uow: UnitOfWork,
    event_type: EventType,
    order: OrderRecord,
    lines: list[EventOrderLine] | None = None,
) -> str:
    """An event about an order, carrying the order as it is in this transaction (its lines
    read back unless the caller has them). Returns the event's id."""
    if lines is None:
        lines = event_lines(uow.orders.lines(order.id))
    return emit_in(uow, order.shop_id, event_type, order_data(order, lines))


def emit_in(
    uow: UnitOfWork, shop_id: str, event_type: EventType, data: dict[str, JsonValue]
) -> str:
    """Record the event and queue its deliveries, in the caller's transaction; returns the
    event's id."""
    event_id = f"evt_{secrets.token_hex(12)}"
    endpoints = uow.merchant_events.add(event_id, shop_id, event_type, {"object": data})
    uow.outbox.add_messages(
        [
            (
                MerchantWebhook(shop_id=shop_id, endpoint_id=endpoint_id, event_id=event_id),
                f"merchant-webhook-{event_id}-{endpoint_id}",
                None,
            )
            for endpoint_id in endpoints
        ]
    )
    return event_id


def new_endpoint_secret() -> str:
    return f"kwhsec_{secrets.token_urlsafe(32)}"

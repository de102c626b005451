"""An order, for its owner: proven by the order token, never by knowing the reference."""

from __future__ import annotations

from checkout.errors import OrderNotFound, Unauthorized
from checkout.intent import same_secret
from checkout.ports import Services
from schemas.orders import OrderLineView, OrderView
from schemas.records import Shop


def order_for_owner(services: Services, shop: Shop, reference: str, token: str | None) -> OrderView:
    if not token:
        raise Unauthorized("Order access needs the kassa_order cookie or X-Modification-Token.")
    with services.uow() as uow:
        order = uow.orders.by_reference(shop.id, reference)
        if order is None or not same_secret(token, order.token_hash):
            raise OrderNotFound()
        lines = uow.orders.lines(order.id)
        payment = uow.orders.payment(order.id)
    return OrderView(
        reference=order.reference,
        status=order.status,
        currency=order.currency,
        lines=[
            OrderLineView(
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
        refunded_amount=payment.refunded_amount if payment else 0,
        customer_email=order.customer_email,
        customer_name=order.customer_name,
        shipping_address=order.shipping_address,
        created_at=order.created_at,
    )

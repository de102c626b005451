"""Adding items to a placed order, without ever raising an authorization.

The audited shop raised the PaymentIntent on one path and wrote metadata on another. Here
the added items are a checkout of their own, a *supplementary* checkout pointing at the
order: priced now from the catalog by checkout's pricing code, held like any checkout,
and paid through a Checkout Session of their own for exactly their price, in the order's
capture mode. Nothing about the order changes until that session is paid: then
``checkout.fulfilment`` turns the lines into order lines in the same transaction as their
payment record. Unpaid, the holds lapse with the window (the reaper) and the order stays
as it was; paid after the window, the money goes back in full.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta

from checkout.allocation import allocate
from checkout.errors import (
    IdempotencyKeyRequired,
    IdempotencyKeyReused,
    WindowClosed,
    WindowClosing,
)
from checkout.intent import cart_hash, checkout_nonce, hash_secret, intent_key
from checkout.modifications import ChangeRequest
from checkout.orders import owned_order_in
from checkout.ports import Services
from checkout.pricing import price_cart
from checkout.sessions import request_session
from checkout.stock_alerts import report_taken_in
from checkout.window import remaining_seconds, window_end
from schemas.checkout import CheckoutResponse
from schemas.orders import AddLineInput
from schemas.records import CheckoutRecord

log = logging.getLogger(__name__)

STRIPE_MIN_SESSION = timedelta(minutes=30)
"""Stripe refuses a Checkout Session that expires sooner than this after its creation."""
SESSION_MARGIN = timedelta(minutes=2)
"""Room for the time between our clock and Stripe's check of ``expires_at``."""


def add_items(services: Services, req: ChangeRequest, line: AddLineInput) -> CheckoutResponse:
    """The supplementary checkout for ``line`` and its Stripe session (the same one for
    every request with the same ``Idempotency-Key``)."""
    if req.idempotency_key is None:
        raise IdempotencyKeyRequired()
    shop, wanted = req.shop, {line.sku: line.quantity}
    now = datetime.now(UTC)
    with services.uow() as uow:
        owned = owned_order_in(uow, shop, req.reference, req.tokens)
        order = uow.orders.get(owned.id, lock=True)  # capture and every change take it
        assert order is not None
        if remaining_seconds(order, now) == 0:
            raise WindowClosed()
        own = uow.orders.payment(order.id)
        priced = price_cart(
            order.currency, wanted, uow.catalog.products(shop.id, list(wanted)), None, None
        )
        content = cart_hash(shop.id, wanted, None, None, order.currency)
        checkout_id = uuid.uuid4()
        end = window_end(order)
        record = CheckoutRecord(
            id=checkout_id,
            shop_id=shop.id,
            idempotency_key=intent_key(
                shop.id,
                cart_id=None,
                client_key=f"order-add:{order.id}:{req.idempotency_key}",
                content=content,
            ),
            cart_hash=content,
            cart_id=None,
            lines=priced.lines,
            subtotal=priced.subtotal,
            discount=0,
            shipping=0,
            total=priced.total,
            currency=order.currency,
            shipping_option_id=None,
            coupon_code=None,
            capture_method=own.capture_method if own else "automatic",
            state="pending",
            stripe_session_id=None,
            stripe_session_url=None,
            # Payable no later than the window's end, for at least Stripe's minimum.
            expires_at=min(
                end, now + max(timedelta(seconds=shop.hold_ttl_seconds), STRIPE_MIN_SESSION)
            ),
            nonce_hash=hash_secret(checkout_nonce(services.settings.secret_key, checkout_id)),
            created_at=now,
            order_id=order.id,
        )
        checkout, created = uow.checkouts.create_or_get(record)
        if not created and checkout.cart_hash != content:
            raise IdempotencyKeyReused()
        if created:
            if end - now < STRIPE_MIN_SESSION + SESSION_MARGIN:
                raise WindowClosing()  # the insert is rolled back with the transaction
            levels = uow.inventory.lock_levels(shop.id, list(wanted))
            # The holds lapse when the session does: never after the window's end.
            uow.inventory.place_holds(
                shop.id, checkout.id, allocate(levels, wanted), checkout.expires_at
            )
            report_taken_in(uow, shop.id, shop.low_stock_threshold, levels, wanted)
    if checkout.stripe_session_id is None and checkout.state == "pending":
        session = request_session(
            services,
            shop,
            checkout,
            order.customer_email,
            owner=created,
            return_path=f"/orders/{order.reference}",
        )
        checkout = checkout.model_copy(
            update={"stripe_session_id": session.id, "stripe_session_url": session.url}
        )
    log.info(
        "items to add",
        extra={
            "shop_id": shop.id,
            "order_ref": order.reference,
            "checkout_id": str(checkout.id),
            "amount": checkout.total,
            "new_checkout": created,
        },
    )
    return CheckoutResponse(
        checkout_id=str(checkout.id),
        session_id=checkout.stripe_session_id or "",
        url=checkout.stripe_session_url or "",
        expires_at=int(checkout.expires_at.timestamp()),
        amount_total=checkout.total,
        currency=checkout.currency,
    )

"""Create a checkout: reprice, hold stock, and get exactly one Stripe session per intent.

The checkout row and its holds commit together before Stripe is called, so a crash
between the two leaves a row that the next identical request (or the reaper) finishes.
Stripe is called with a key derived from the row, so every twin gets the same session.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import backoff

from checkout.allocation import allocate
from checkout.errors import (
    CheckoutInProgress,
    EmptyCart,
    IdempotencyKeyRequired,
    IdempotencyKeyReused,
    PaymentProviderUnavailable,
    UnknownCoupon,
    UnknownShippingOption,
)
from checkout.intent import cart_hash, checkout_nonce, hash_secret, intent_key, stripe_key
from checkout.lifecycle import is_live, release_in
from checkout.ports import PaymentProviderError, Services
from checkout.pricing import price_cart, total_quantities
from checkout.stock_alerts import report_taken_in
from repos.unit_of_work import UnitOfWork
from schemas.cart import CartInput
from schemas.checkout import CheckoutResponse, PricedCart
from schemas.records import CheckoutRecord, Shop
from schemas.stripe import (
    CheckoutSession,
    StripeLineItem,
    StripeLineItemPriceData,
    StripeSessionConfig,
)

log = logging.getLogger(__name__)

HOLD_GRACE = timedelta(minutes=10)
"""Holds outlive their session a little, so a payment made in the session's last second
still finds its stock when the webhook arrives."""


@dataclass(frozen=True)
class CheckoutResult:
    response: CheckoutResponse
    nonce: str
    created: bool


def _quantities(
    shop: Shop, data: CartInput, cart_id: str | None, services: Services
) -> dict[str, int]:
    if data.lines is not None:
        return total_quantities((line.sku, line.quantity) for line in data.lines)
    lines = services.carts.lines(shop.id, cart_id) if cart_id else []
    wanted = total_quantities((line.sku, line.quantity) for line in lines)
    if not wanted:
        raise EmptyCart()
    return wanted


def _audit_client_prices_in(
    uow: UnitOfWork, shop: Shop, data: CartInput, priced: PricedCart
) -> None:
    """A client-sent price is never used; it is recorded, since it may be tampering."""
    catalog = {line.sku: line.unit_amount for line in priced.lines}
    for line in data.lines or []:
        sent = line.unit_amount if line.unit_amount is not None else line.price
        if sent is not None:
            uow.audit.add(
                shop.id,
                "client_price_ignored",
                line.sku,
                {"sent": str(sent)[:32], "catalog_unit_amount": catalog.get(line.sku)},
            )
            log.warning("client price ignored", extra={"shop_id": shop.id, "sku": line.sku})


def session_config(
    shop: Shop, checkout: CheckoutRecord, customer_email: str | None, return_path: str | None = None
) -> StripeSessionConfig:
    """Built only from the stored snapshot, so a retry sends byte-identical parameters.
    ``return_path`` sends the customer back there from Stripe, paid or not (items added to
    an order return to the order's page)."""
    items = [
        StripeLineItem(
            price_data=StripeLineItemPriceData(
                currency=checkout.currency,
                unit_amount=line.unit_amount,
                product_data={"name": line.display_name},
            ),
            quantity=line.quantity,
        )
        for line in checkout.lines
    ]
    if checkout.shipping:
        items.append(
            StripeLineItem(
                price_data=StripeLineItemPriceData(
                    currency=checkout.currency,
                    unit_amount=checkout.shipping,
                    product_data={"name": "Shipping"},
                ),
                quantity=1,
            )
        )
    metadata = {"shop_id": shop.id, "checkout_id": str(checkout.id)}
    pi_data: dict[str, object] = {"metadata": metadata}
    if checkout.capture_method == "manual":
        pi_data["capture_method"] = "manual"
    base = shop.storefront_url.rstrip("/")
    return StripeSessionConfig(
        line_items=items if not checkout.discount else _discounted(checkout, items),
        metadata=metadata,
        client_reference_id=str(checkout.id),
        expires_at=int(checkout.expires_at.timestamp()),
        success_url=f"{base}{return_path}"
        if return_path
        else f"{base}/checkout/success?checkout_id={checkout.id}",
        cancel_url=f"{base}{return_path}"
        if return_path
        else f"{base}/cart?cancelled={checkout.id}",
        customer_email=customer_email,
        payment_intent_data=pi_data,
    )


def _discounted(checkout: CheckoutRecord, items: list[StripeLineItem]) -> list[StripeLineItem]:
    """Stripe has no negative line items; a discounted cart is one line of the snapshot total,
    so the amount charged is exactly the amount Kassa computed."""
    names = ", ".join(f"{line.quantity} x {line.display_name}" for line in checkout.lines)
    label = f"{names} (coupon {checkout.coupon_code})"[:250]
    return [
        StripeLineItem(
            price_data=StripeLineItemPriceData(
                currency=checkout.currency, unit_amount=checkout.total, product_data={"name": label}
            ),
            quantity=1,
        )
    ]


def start_checkout(
    services: Services,
    shop: Shop,
    data: CartInput,
    *,
    cart_id: str | None,
    client_key: str | None,
) -> CheckoutResult:
    if data.lines is not None and cart_id is None and client_key is None:
        raise IdempotencyKeyRequired()
    wanted = _quantities(shop, data, cart_id, services)
    now = datetime.now(UTC)
    with services.uow() as uow:
        shipping = None
        if data.shipping_option_id:
            shipping = uow.catalog.shipping_option(shop.id, data.shipping_option_id)
            if shipping is None:
                raise UnknownShippingOption()
        coupon = None
        if data.coupon:
            coupon = uow.catalog.coupon(shop.id, data.coupon)
            if coupon is None:
                raise UnknownCoupon()
        priced = price_cart(
            shop.currency, wanted, uow.catalog.products(shop.id, list(wanted)), shipping, coupon
        )
        content = cart_hash(
            shop.id, wanted, priced.shipping_option_id, priced.coupon_code, shop.currency
        )
        checkout_id = uuid.uuid4()
        nonce = checkout_nonce(services.settings.secret_key, checkout_id)
        record = CheckoutRecord(
            id=checkout_id,
            shop_id=shop.id,
            idempotency_key=intent_key(
                shop.id, cart_id=cart_id, client_key=client_key, content=content
            ),
            cart_hash=content,
            cart_id=cart_id,
            lines=priced.lines,
            subtotal=priced.subtotal,
            discount=priced.discount,
            shipping=priced.shipping,
            total=priced.total,
            currency=priced.currency,
            shipping_option_id=priced.shipping_option_id,
            coupon_code=priced.coupon_code,
            coupon_percent_off=coupon.percent_off if coupon else None,
            coupon_amount_off=coupon.amount_off if coupon else None,
            capture_method="manual" if shop.capture_mode == "delayed" else "automatic",
            state="pending",
            stripe_session_id=None,
            stripe_session_url=None,
            expires_at=now + timedelta(seconds=shop.hold_ttl_seconds),
            nonce_hash=hash_secret(nonce),
            created_at=now,
        )
        checkout, created = uow.checkouts.create_or_get(record)
        if not created and checkout.cart_hash != content:
            raise IdempotencyKeyReused()
        if created:  # the hot stock rows last: locked from here to the commit
            _audit_client_prices_in(uow, shop, data, priced)
            levels = uow.inventory.lock_levels(shop.id, list(wanted))
            uow.inventory.place_holds(
                shop.id, checkout.id, allocate(levels, wanted), checkout.expires_at + HOLD_GRACE
            )
            report_taken_in(uow, shop.id, shop.low_stock_threshold, levels, wanted)
    nonce = checkout_nonce(services.settings.secret_key, checkout.id)
    if checkout.stripe_session_id is None and checkout.state == "pending":
        session = request_session(services, shop, checkout, data.customer_email, owner=created)
        checkout = checkout.model_copy(
            update={"stripe_session_id": session.id, "stripe_session_url": session.url}
        )
    log.info(
        "checkout ready",
        extra={"shop_id": shop.id, "checkout_id": str(checkout.id), "new_checkout": created},
    )
    return CheckoutResult(
        response=CheckoutResponse(
            checkout_id=str(checkout.id),
            session_id=checkout.stripe_session_id or "",
            url=checkout.stripe_session_url or "",
            expires_at=int(checkout.expires_at.timestamp()),
            amount_total=checkout.total,
            currency=checkout.currency,
        ),
        nonce=nonce,
        created=created,
    )


def request_session(
    services: Services,
    shop: Shop,
    checkout: CheckoutRecord,
    customer_email: str | None,
    *,
    owner: bool,
    return_path: str | None = None,
) -> CheckoutSession:
    """Ask Stripe for the checkout's session (the same key from every request of the intent).

    Only the request that created the checkout may give up on it. A twin that runs out of
    patience while the owner's call to a slow Stripe is still in flight must not release
    stock the owner is about to hand out with a payable session: it asks to be retried.
    """
    config = session_config(shop, checkout, customer_email, return_path)

    @backoff.on_exception(
        backoff.expo,
        PaymentProviderError,
        max_tries=3,
        factor=0.2,
        max_value=2,
        giveup=lambda exc: not getattr(exc, "transient", False),
        logger=None,
    )
    def create() -> CheckoutSession:
        return services.payments.create_session(shop, config, stripe_key(checkout.id))

    try:
        session = create()
    except PaymentProviderError as exc:
        if not owner:
            raise CheckoutInProgress() from exc
        log.warning(
            "stripe session failed; releasing hold",
            extra={
                "shop_id": shop.id,
                "checkout_id": str(checkout.id),
                "error": str(exc),
                "transient": exc.transient,
            },
        )
        with services.uow() as uow:
            locked = uow.checkouts.get(shop.id, checkout.id, lock=True)
            if locked is not None:  # pragma: no branch - nothing deletes a live checkout
                release_in(uow, locked, "failed")
        raise PaymentProviderUnavailable() from exc
    with services.uow() as uow:
        uow.checkouts.attach_session(checkout.id, session.id, session.url)
    return session


def cancel_checkout(services: Services, shop: Shop, checkout: CheckoutRecord) -> str:
    """The customer came back without paying: make the session unpayable, then free the stock.

    If Stripe will not expire the session because it was completed meanwhile, nothing is
    released: the payment wins and fulfilment proceeds. Returns the checkout's state.
    """
    if not is_live(checkout):
        return checkout.state
    if checkout.stripe_session_id:
        try:
            services.payments.expire_session(shop, checkout.stripe_session_id)
        except PaymentProviderError as exc:
            if exc.transient:
                return checkout.state  # try again later; the reaper is the backstop
            session = services.payments.retrieve_session(shop, checkout.stripe_session_id)
            if session.status != "expired":
                return checkout.state
    with services.uow() as uow:
        locked = uow.checkouts.get(shop.id, checkout.id, lock=True)
        if locked is None or not release_in(uow, locked, "expired"):
            # Its webhook or the reaper released it since the caller read it: only a race.
            return locked.state if locked else checkout.state  # pragma: no cover - a race
    log.info("checkout cancelled", extra={"shop_id": shop.id, "checkout_id": str(checkout.id)})
    return "expired"

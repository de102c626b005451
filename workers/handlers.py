"""One handler per outbox kind. Each is idempotent by its row's dedupe key, and runs
inside the unit of work that holds the outbox row's lock, so what it writes to Postgres
commits together with the row becoming ``done``."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from functools import partial
from typing import Any, TypeVar
from uuid import UUID

from checkout.capture import (
    ToCapture,
    begin_capture,
    fail_capture_in,
    finish_capture_in,
    record_captures_in,
)
from checkout.merchant_events import emit_order_in
from checkout.ports import PaymentProviderError, Services
from repos.unit_of_work import UnitOfWork
from schemas.outbox import (
    Capture,
    CartClear,
    CustomerUpsert,
    ExpireSession,
    MerchantWebhook,
    Message,
    OrderChangeEmail,
    OrderConfirmationEmail,
    PaymentMetadataSync,
    Refund,
    StockMirrorDecrement,
    Void,
)
from schemas.records import OrderRecord, Shop
from workers import email, merchant_webhooks
from workers.failures import PermanentJobError
from workers.queue import job_id_for

log = logging.getLogger(__name__)

M = TypeVar("M", bound=Message)


@dataclass(frozen=True)
class Effect:
    """What a handler gets: the services, the row's transaction, its shop and dedupe key."""

    services: Services
    uow: UnitOfWork
    shop: Shop
    dedupe_key: str


# Any: each handler takes the message model HANDLERS pairs it with, a subclass of Message
# (which a Callable[[Effect, Message], None] would refuse).
Handler = Callable[[Effect, Any], None]
HANDLERS: dict[str, tuple[type[Message], Handler]] = {}


def handles(model: type[M]) -> Callable[[Callable[[Effect, M], None]], Callable[[Effect, M], None]]:
    kind = model.model_fields["kind"].default

    def register(fn: Callable[[Effect, M], None]) -> Callable[[Effect, M], None]:
        HANDLERS[kind] = (model, fn)
        return fn

    return register


def perform(effect: Effect, kind: str, payload: dict[str, Any]) -> None:
    """Validate the payload against its kind's message model and run the handler."""
    if kind not in HANDLERS:
        raise PermanentJobError("unknown_kind")
    model, handler = HANDLERS[kind]
    message = model.model_validate(payload)
    if message.shop_id != effect.shop.id:
        raise PermanentJobError("shop_mismatch")
    handler(effect, message)


def _order(effect: Effect, order_id: UUID) -> OrderRecord:
    order = effect.uow.orders.get(order_id)
    if order is None or order.shop_id != effect.shop.id:
        raise PermanentJobError("order_not_found")
    return order


@handles(StockMirrorDecrement)
def decrement_stock_mirror(effect: Effect, msg: StockMirrorDecrement) -> None:
    units: dict[str, int] = {}
    for line in msg.lines:
        units[line.sku] = units.get(line.sku, 0) + line.quantity
    effect.services.mirror.decrement_once(effect.shop.id, effect.dedupe_key, units)


@handles(PaymentMetadataSync)
def sync_payment_metadata(effect: Effect, msg: PaymentMetadataSync) -> None:
    effect.services.payments.update_payment_metadata(
        effect.shop,
        msg.payment_intent_id,
        {"order_reference": msg.order_reference},
        idempotency_key=effect.dedupe_key,
    )


@handles(Refund)
def refund(effect: Effect, msg: Refund) -> None:
    """Give the money back. An authorization that was never captured (delayed capture) is
    voided instead, since Stripe refunds only captured charges; a retry after the void finds
    the intent ``canceled`` and has nothing left to do. The payment row records which."""
    payments = effect.services.payments
    status = payments.retrieve_payment_intent(effect.shop, msg.payment_intent_id).status
    if status in ("requires_capture", "canceled"):
        if status == "requires_capture":
            payments.cancel_payment_intent(
                effect.shop, msg.payment_intent_id, idempotency_key=effect.dedupe_key
            )
        _record_refund(effect, msg, None)
        return
    refund_id = payments.refund(
        effect.shop,
        msg.payment_intent_id,
        msg.amount,
        idempotency_key=effect.dedupe_key,
        metadata={
            "shop_id": msg.shop_id,
            "checkout_id": str(msg.checkout_id),
            "reason": msg.reason,
        },
    )
    _record_refund(effect, msg, refund_id)


def _record_refund(effect: Effect, msg: Refund, refund_id: str | None) -> None:
    """The money is back (refunded, or the authorization voided when ``refund_id`` is
    None): the payment says so, and the merchant hears of it, once: a second refund row
    of an order whose authorization is already void records and tells nothing."""
    if msg.order_id is None:
        return
    order = _order(effect, msg.order_id)
    if refund_id is None:
        if not effect.uow.orders.record_void(order.id, msg.payment_intent_id):
            return
    else:
        effect.uow.orders.record_refund(order.id, msg.payment_intent_id, msg.amount, refund_id)
    emit_order_in(effect.uow, "order.refunded", order)


@handles(Capture)
def capture(effect: Effect, msg: Capture) -> None:
    """At the end of the modification window: capture what each authorization of the
    order owes now (changes only ever lower it; items added during the window were paid
    by an authorization of their own). See checkout.capture for why this cannot interleave
    with a change. A refusal that no retry can fix marks the order capture_failed."""
    _order(effect, msg.order_id)
    owed = begin_capture(effect.services, effect.shop.id, msg.order_id)
    if owed is None:
        return
    payments = effect.services.payments
    done: list[ToCapture] = []
    for c in owed:
        key = effect.dedupe_key + c.key_suffix
        try:
            if c.amount:
                payments.capture(effect.shop, c.payment_intent_id, c.amount, idempotency_key=key)
            else:
                payments.cancel_payment_intent(
                    effect.shop, c.payment_intent_id, idempotency_key=key
                )
        except PaymentProviderError as exc:
            if exc.transient:
                raise
            status = payments.retrieve_payment_intent(effect.shop, c.payment_intent_id).status
            if c.amount == 0 and status == "canceled":  # voided by an earlier attempt
                done.append(c)
                continue
            record_captures_in(effect.uow, msg.order_id, done)
            fail_capture_in(
                effect.uow,
                msg.order_id,
                exc.code or "capture_refused",
                gone=None if status == "requires_capture" else c.payment_intent_id,
            )
            return
        done.append(c)
    finish_capture_in(effect.uow, msg.order_id, done)


@handles(Void)
def void(effect: Effect, msg: Void) -> None:
    """Cancel the authorization of a cancelled order. Stripe refuses to cancel one that
    is already canceled (lapsed, or our own earlier attempt): then it is void already."""
    payments = effect.services.payments
    try:
        payments.cancel_payment_intent(
            effect.shop, msg.payment_intent_id, idempotency_key=effect.dedupe_key
        )
    except PaymentProviderError as exc:
        if exc.transient:
            raise
        if payments.retrieve_payment_intent(effect.shop, msg.payment_intent_id).status != (
            "canceled"
        ):
            raise
    effect.uow.orders.record_void(_order(effect, msg.order_id).id, msg.payment_intent_id)


@handles(ExpireSession)
def expire_session(effect: Effect, msg: ExpireSession) -> None:
    """Make a lapsed checkout's session unpayable. Stripe refuses to expire a session that
    is no longer open (paid or already expired): then there is nothing left to do."""
    payments = effect.services.payments
    try:
        payments.expire_session(effect.shop, msg.session_id)
    except PaymentProviderError as exc:
        if exc.transient:
            raise
        try:
            status = payments.retrieve_session(effect.shop, msg.session_id).status
        except PaymentProviderError as lookup:
            if lookup.transient or lookup.code != "resource_missing":
                raise
            status = None
        if status == "open":
            raise
        log.info("session already closed", extra={"checkout_id": str(msg.checkout_id)})


@handles(CustomerUpsert)
def upsert_customer(effect: Effect, msg: CustomerUpsert) -> None:
    order = _order(effect, msg.order_id)
    if not order.customer_email:
        return
    effect.services.payments.upsert_customer(
        effect.shop, order.customer_email, order.customer_name, idempotency_key=effect.dedupe_key
    )


def _mail(effect: Effect, order_id: UUID, build: Callable[..., EmailMessage]) -> None:
    """Read the order at send time (its latest lines and address; never written here) and
    send what ``build`` makes of it, if the customer left an address."""
    order = _order(effect, order_id)
    if not order.customer_email:
        log.info("no email address; email skipped", extra={"order_ref": order.reference})
        return
    exponent = effect.uow.shops.currency_exponent(order.currency)
    if exponent is None:  # orders.currency REFERENCES currencies: never, in practice
        raise PermanentJobError("unknown_currency")  # pragma: no cover - FK to currencies
    settings = effect.services.settings
    lines = effect.uow.orders.lines(order.id)
    message = build(effect.shop, order, lines, exponent, settings, effect.dedupe_key)
    email.deliver(message, settings, job_id_for(effect.dedupe_key))


@handles(OrderConfirmationEmail)
def send_order_confirmation(effect: Effect, msg: OrderConfirmationEmail) -> None:
    _mail(effect, msg.order_id, email.confirmation)


@handles(OrderChangeEmail)
def send_order_change(effect: Effect, msg: OrderChangeEmail) -> None:
    """Tells the customer what changed: cancelled, new address, fewer items, failed."""
    _mail(effect, msg.order_id, partial(email.change, what=msg.change))


@handles(CartClear)
def clear_cart(effect: Effect, msg: CartClear) -> None:
    effect.services.carts.clear(effect.shop.id, msg.cart_id)


@handles(MerchantWebhook)
def deliver_merchant_webhook(effect: Effect, msg: MerchantWebhook) -> None:
    """One event to one endpoint. An endpoint disabled since is skipped (its merchant asked
    for no more deliveries); the event itself is never lost from the feed."""
    endpoint = effect.uow.merchant_events.endpoint(effect.shop.id, msg.endpoint_id)
    if endpoint is None or not endpoint.active:
        log.info("endpoint inactive; delivery skipped", extra={"event_id": msg.event_id})
        return
    event = effect.uow.merchant_events.get(msg.event_id)
    if event is None or event.shop_id != effect.shop.id:
        raise PermanentJobError("event_not_found")
    settings = effect.services.settings
    merchant_webhooks.deliver(
        endpoint.url,
        endpoint.secret,
        event,
        settings.webhook_timeout_seconds,
        allow_private=settings.webhook_allow_private,
    )

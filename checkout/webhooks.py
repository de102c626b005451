"""Stripe events: verified (webhooks), deduplicated by event id, checked against the shop.

Webhooks and the periodic walk of Stripe's event list (``checkout.reconcile``) hand events
to the same ``process_event``. The event id is recorded inside the same transaction as its
effects: if handling fails the record rolls back too, and Stripe's retry (or the next walk)
processes it as if it were the first.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from checkout.capture import payment_cancelled_in
from checkout.errors import WebhookRejected
from checkout.fulfilment import fulfil
from checkout.lifecycle import Released, release_in
from checkout.ports import Services
from repos.unit_of_work import UnitOfWork
from schemas.records import Shop
from schemas.stripe import CheckoutSession, StripeWebhookPayload

log = logging.getLogger(__name__)

PAYMENT_CANCELED = "payment_intent.canceled"
FULFIL = {"checkout.session.completed", "checkout.session.async_payment_succeeded"}
RELEASE: dict[str, Released] = {
    "checkout.session.async_payment_failed": "failed",
    "checkout.session.expired": "expired",
}
HANDLED = sorted(FULFIL | set(RELEASE))


@dataclass(frozen=True)
class WebhookOutcome:
    event_id: str
    event_type: str
    result: str


def handle_webhook(
    services: Services, shop: Shop, payload: bytes, signature: str | None
) -> WebhookOutcome:
    if not shop.stripe_webhook_secret:
        raise WebhookRejected("This shop has no webhook secret configured.")
    event = services.payments.verify_webhook(payload, signature, shop.stripe_webhook_secret)
    return process_event(services, shop, event)


def event_session(event: StripeWebhookPayload) -> CheckoutSession | None:
    """The Checkout Session an event is about, if it is one Kassa handles."""
    if event.type not in HANDLED:
        return None
    try:
        return CheckoutSession.model_validate(event.data.object)
    except ValidationError as exc:
        raise WebhookRejected("The event's session could not be read.") from exc


def process_event(services: Services, shop: Shop, event: StripeWebhookPayload) -> WebhookOutcome:
    """Handle one authentic event of ``shop``'s Stripe account."""
    if event.type == PAYMENT_CANCELED:
        return _payment_canceled(services, shop, event.id, event.data.object)
    session = event_session(event)
    if session is None:
        return WebhookOutcome(event.id, event.type, "ignored")
    named_shop = session.metadata.get("shop_id")
    if named_shop is None:  # not a session Kassa created (same Stripe account, other use)
        return WebhookOutcome(event.id, event.type, "ignored")
    if named_shop != shop.id:
        with services.uow() as uow:
            uow.audit.add(
                shop.id,
                "tenancy_violation",
                event.id,
                {"event_type": event.type, "named_shop": named_shop[:64]},
            )
        log.warning("webhook names another shop", extra={"shop_id": shop.id, "event_id": event.id})
        raise WebhookRejected("The event belongs to another shop.")
    if event.type in FULFIL:
        result: str = fulfil(services, shop, session, event=event).outcome
    else:
        with services.uow() as uow:
            result = (
                _release_in(uow, shop, session, RELEASE[event.type])
                if uow.events.record(event.id, shop.id, event.type)
                else "duplicate"
            )
    log.info(
        "webhook handled",
        extra={
            "shop_id": shop.id,
            "event_id": event.id,
            "event_type": event.type,
            "result": result,
        },
    )
    return WebhookOutcome(event.id, event.type, result)


def _payment_canceled(
    services: Services, shop: Shop, event_id: str, intent: dict[str, Any]
) -> WebhookOutcome:
    """An authorization dropped at Stripe: an order still waiting for capture is failed."""
    intent_id = intent.get("id")
    if not isinstance(intent_id, str):
        raise WebhookRejected("The event's PaymentIntent could not be read.")
    with services.uow() as uow:
        if not uow.events.record(event_id, shop.id, PAYMENT_CANCELED):
            return WebhookOutcome(event_id, PAYMENT_CANCELED, "duplicate")
        result = payment_cancelled_in(uow, shop.id, intent_id)
    log.info(
        "webhook handled",
        extra={
            "shop_id": shop.id,
            "event_id": event_id,
            "event_type": PAYMENT_CANCELED,
            "result": result,
        },
    )
    return WebhookOutcome(event_id, PAYMENT_CANCELED, result)


def _release_in(uow: UnitOfWork, shop: Shop, session: CheckoutSession, to: Released) -> str:
    """The payment failed or the session expired: give the held units back, once."""
    try:
        checkout_id = uuid.UUID(session.metadata.get("checkout_id", ""))
    except ValueError:
        return "unknown_checkout"
    checkout = uow.checkouts.get(shop.id, checkout_id, lock=True)
    if checkout is None:
        return "unknown_checkout"
    if not release_in(uow, checkout, to):
        return "already_" + checkout.state
    return "released"

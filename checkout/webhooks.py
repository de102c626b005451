"""Stripe webhooks: verified, deduplicated by event id, checked against the endpoint's shop.

The event id is recorded inside the same transaction as its effects: if handling fails
the record rolls back too, and Stripe's retry is processed as if it were the first.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from pydantic import ValidationError

from checkout.errors import WebhookRejected
from checkout.fulfilment import fulfil_in, payment_authorized
from checkout.ports import Services
from repos.unit_of_work import UnitOfWork
from schemas.records import CheckoutState, Shop
from schemas.stripe import CheckoutSession

log = logging.getLogger(__name__)

FULFIL = {"checkout.session.completed", "checkout.session.async_payment_succeeded"}
RELEASE: dict[str, CheckoutState] = {
    "checkout.session.async_payment_failed": "failed",
    "checkout.session.expired": "expired",
}


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
    if event.type not in FULFIL and event.type not in RELEASE:
        return WebhookOutcome(event.id, event.type, "ignored")
    try:
        session = CheckoutSession.model_validate(event.data.object)
    except ValidationError as exc:
        raise WebhookRejected("The event's session could not be read.") from exc
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
    authorized = event.type in FULFIL and payment_authorized(services, shop, session)
    with services.uow() as uow:
        if not uow.events.record(event.id, shop.id, event.type):
            return WebhookOutcome(event.id, event.type, "duplicate")
        result: str
        if event.type in FULFIL:
            result = fulfil_in(uow, services, shop, session, authorized).outcome
        else:
            result = _release(uow, shop, session, RELEASE[event.type])
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


def _release(uow: UnitOfWork, shop: Shop, session: CheckoutSession, state: CheckoutState) -> str:
    """The payment failed or the session expired: give the held units back, once."""
    try:
        checkout_id = uuid.UUID(session.metadata.get("checkout_id", ""))
    except ValueError:
        return "unknown_checkout"
    checkout = uow.checkouts.get(shop.id, checkout_id, lock=True)
    if checkout is None:
        return "unknown_checkout"
    if checkout.state not in ("pending", "open"):
        return "already_" + checkout.state
    uow.inventory.finish_holds(shop.id, checkout.id, "released")
    uow.checkouts.set_state(checkout.id, state)
    return "released"

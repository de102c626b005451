"""Why a customer came back from Stripe's page without paying: a declined card, or a change of
mind. Stripe sends both to the same cancel URL; only the payment intent tells them apart."""

from __future__ import annotations

from checkout.ports import PaymentProviderError, Services
from schemas.records import CheckoutRecord, Shop


def was_declined(services: Services, shop: Shop, checkout: CheckoutRecord) -> bool:
    """True when a payment attempt on the checkout's session failed. Ask once the session is
    closed: while it is open Stripe shows no payment intent (deferred since API 2022-08-01).
    If Stripe cannot be reached, say nothing rather than guess."""
    if checkout.stripe_session_id is None:
        return False
    try:
        session = services.payments.retrieve_session(shop, checkout.stripe_session_id)
        if session.payment_intent is None:
            return False
        intent = services.payments.retrieve_payment_intent(shop, session.payment_intent)
    except PaymentProviderError:
        return False
    return intent.last_payment_error is not None

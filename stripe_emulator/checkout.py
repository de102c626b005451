"""Checkout Sessions: creation, completion, asynchronous settlement and expiry.

Since API version 2022-08-01 the PaymentIntent is created only when the customer
confirms, so an open session shows `payment_intent: null`.
"""

from __future__ import annotations

from stripe_emulator import defaults, objects, payments
from stripe_emulator.checkout_params import NewSession
from stripe_emulator.errors import StripeError, resource_missing
from stripe_emulator.events import EventRecorder
from stripe_emulator.ids import new_id
from stripe_emulator.models import (
    Account,
    CheckoutSession,
    Customer,
    LineItem,
    Payer,
    ShippingOption,
)


def create_session(
    account: Account, new: NewSession, *, now: int, base_url: str
) -> CheckoutSession:
    if new.customer is not None and new.customer not in account.customers:
        raise resource_missing("customer", new.customer, param="customer")
    session_id = new_id("cs_test")
    session = CheckoutSession(
        id=session_id,
        created=now,
        expires_at=new.expires_at,
        currency=new.currency,
        line_items=[
            LineItem(
                id=new_id("li"),
                price_id=new_id("price"),
                product_id=new_id("prod"),
                name=item.name,
                currency=item.currency,
                unit_amount=item.unit_amount,
                quantity=item.quantity,
                created=now,
                metadata=item.metadata,
            )
            for item in new.line_items
        ],
        success_url=new.success_url,
        cancel_url=new.cancel_url,
        url=f"{base_url.rstrip('/')}/checkout/{session_id}",
        metadata=new.metadata,
        client_reference_id=new.client_reference_id,
        customer=new.customer,
        customer_email=new.customer_email,
        customer_creation=new.customer_creation,
        capture_method=new.capture_method,
        payment_intent_metadata=new.payment_intent_metadata,
        payment_intent_description=new.payment_intent_description,
        locale=new.locale,
        shipping_options=[
            ShippingOption(rate_id=new_id("shr"), display_name=name, amount=amount)
            for name, amount in new.shipping_options
        ],
    )
    account.checkout_sessions[session.id] = session
    account.deadlines.push(session.expires_at, ("checkout.session", session.id))
    return session


def find_session(account: Account, session_id: str) -> CheckoutSession:
    session = account.checkout_sessions.get(session_id)
    if session is None:
        raise resource_missing("checkout.session", session_id)
    return session


def default_payer(account: Account, session: CheckoutSession) -> Payer:
    customer = account.customers.get(session.customer) if session.customer else None
    email = session.customer_email or (customer.email if customer else None)
    return Payer(
        email=email or defaults.TEST_CUSTOMER_EMAIL,
        name=(customer.name if customer else None) or defaults.TEST_CUSTOMER_NAME,
        address=dict(defaults.TEST_CUSTOMER_ADDRESS),
    )


def complete(
    account: Account,
    session: CheckoutSession,
    outcome: str,
    payer: Payer,
    recorder: EventRecorder,
) -> None:
    """The customer confirms on the hosted page; `declined` leaves the session open."""
    _require_open(session)
    intent = payments.intent_for_session(account, session, recorder)
    if outcome == "declined":
        payments.decline(account, intent, payer, recorder)
        return
    if session.customer is None and session.customer_creation == "always":
        session.customer = _create_customer(account, payer, recorder.now, recorder).id
    intent.customer = session.customer
    session.customer_details = payer
    if outcome == "paid":
        payments.authorize(account, intent, payer, recorder)
    else:
        payments.start_processing(account, intent, payer, recorder)
    # Manual capture shows `unpaid` until captured (see docs/stripe-emulator.md).
    session.payment_status = "paid" if intent.status == "succeeded" else "unpaid"
    session.status = "complete"
    session.url = None
    recorder.emit("checkout.session.completed", objects.session_json(session))


def settle_async(
    account: Account, session: CheckoutSession, result: str, recorder: EventRecorder
) -> None:
    intent = account.payment_intents.get(session.payment_intent or "")
    if session.status != "complete" or intent is None or intent.status != "processing":
        raise StripeError(
            400,
            f"Checkout Session {session.id} has no pending asynchronous payment "
            f"(status `{session.status}`, payment_status `{session.payment_status}`).",
            code="no_pending_payment",
        )
    if result == "succeeded":
        payments.finish_processing(account, intent, succeeded=True, recorder=recorder)
        session.payment_status = "paid" if intent.status == "succeeded" else "unpaid"
        recorder.emit("checkout.session.async_payment_succeeded", objects.session_json(session))
    else:
        payments.finish_processing(account, intent, succeeded=False, recorder=recorder)
        recorder.emit("checkout.session.async_payment_failed", objects.session_json(session))


def expire(account: Account, session: CheckoutSession, recorder: EventRecorder) -> None:
    if session.status != "open":
        raise StripeError(
            400,
            'Only Checkout Sessions with a status in ["open"] can be expired. This Checkout '
            f"Session has a status of `{session.status}`.",
        )
    session.status = "expired"
    session.url = None
    if session.payment_intent is not None:
        payments.abandon(account, account.payment_intents[session.payment_intent], recorder)
    recorder.emit("checkout.session.expired", objects.session_json(session))


def expire_if_due(account: Account, session_id: str, recorder: EventRecorder) -> None:
    """Its `expires_at` has passed: expire it unless it was completed or expired meanwhile."""
    session = account.checkout_sessions.get(session_id)
    if session is not None and session.status == "open" and recorder.now >= session.expires_at:
        expire(account, session, recorder)


def after_capture(account: Account, session_id: str | None) -> None:
    session = account.checkout_sessions.get(session_id or "")
    if session is not None and session.status == "complete":
        session.payment_status = "paid"


def _require_open(session: CheckoutSession) -> None:
    if session.status == "expired":
        raise StripeError(
            400,
            f"Checkout Session {session.id} has expired and can no longer be paid.",
            code="checkout_session_expired",
        )
    if session.status == "complete":
        raise StripeError(
            400,
            f"Checkout Session {session.id} is already complete.",
            code="checkout_session_complete",
        )


def _create_customer(account: Account, payer: Payer, now: int, recorder: EventRecorder) -> Customer:
    customer = Customer(
        id=new_id("cus"),
        created=now,
        email=payer.email,
        name=payer.name,
        phone=payer.phone,
        description=None,
        address=dict(payer.address),
        metadata={},
    )
    account.customers[customer.id] = customer
    recorder.emit("customer.created", objects.customer_json(customer))
    return customer

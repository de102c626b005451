"""PaymentIntents, their Charges and Refunds: authorization, capture, cancel, refund.

Amount rules are enforced here under the state lock, so concurrent captures or
refunds can never take more than was authorized or captured.
"""

from __future__ import annotations

from typing import Any

from stripe_emulator import defaults, money, objects
from stripe_emulator.errors import StripeError, resource_missing, unexpected_state
from stripe_emulator.events import EventRecorder
from stripe_emulator.ids import new_id, random_token
from stripe_emulator.models import Account, Charge, CheckoutSession, Payer, PaymentIntent, Refund
from stripe_emulator.params import MetadataPatch

CANCELLABLE = (
    "requires_payment_method",
    "requires_capture",
    "requires_confirmation",
    "requires_action",
    "processing",
)
CANCELLATION_REASONS = ("abandoned", "duplicate", "fraudulent", "requested_by_customer")
REFUND_REASONS = ("duplicate", "fraudulent", "requested_by_customer")

_DECLINE: dict[str, Any] = {
    "code": "card_declined",
    "decline_code": "generic_decline",
    "doc_url": "https://stripe.com/docs/error-codes/card-declined",
    "message": "Your card was declined.",
    "type": "card_error",
}


def find_intent(account: Account, intent_id: str, *, param: str = "id") -> PaymentIntent:
    intent = account.payment_intents.get(intent_id)
    if intent is None:
        raise resource_missing("payment_intent", intent_id, param=param)
    return intent


def find_charge(account: Account, charge_id: str, *, param: str = "id") -> Charge:
    charge = account.charges.get(charge_id)
    if charge is None:
        raise resource_missing("charge", charge_id, param=param)
    return charge


def find_refund(account: Account, refund_id: str) -> Refund:
    refund = account.refunds.get(refund_id)
    if refund is None:
        raise resource_missing("refund", refund_id)
    return refund


def intent_for_session(
    account: Account, session: CheckoutSession, recorder: EventRecorder
) -> PaymentIntent:
    """The session's PaymentIntent, created at the first confirmation and reused after."""
    if session.payment_intent is not None:
        return account.payment_intents[session.payment_intent]
    intent_id = new_id("pi")
    intent = PaymentIntent(
        id=intent_id,
        created=recorder.now,
        amount=session.amount_total,
        currency=session.currency,
        capture_method=session.capture_method,
        client_secret=f"{intent_id}_secret_{random_token(25)}",
        metadata=dict(session.payment_intent_metadata),
        description=session.payment_intent_description,
        customer=session.customer,
        receipt_email=None,
        checkout_session=session.id,
    )
    account.payment_intents[intent.id] = intent
    session.payment_intent = intent.id
    recorder.emit("payment_intent.created", objects.payment_intent_json(intent))
    return intent


def decline(account: Account, intent: PaymentIntent, payer: Payer, recorder: EventRecorder) -> None:
    charge = _new_charge(account, intent, payer, recorder.now, status="failed")
    charge.failure_code = "card_declined"
    charge.failure_message = "Your card was declined."
    intent.status = "requires_payment_method"
    intent.payment_method = None
    intent.last_payment_error = {**_DECLINE, "charge": charge.id}
    recorder.emit("charge.failed", objects.charge_json(charge))
    recorder.emit("payment_intent.payment_failed", objects.payment_intent_json(intent))


def authorize(
    account: Account, intent: PaymentIntent, payer: Payer, recorder: EventRecorder
) -> None:
    """An approved card: captured at once, or held when capture_method is manual."""
    charge = _new_charge(account, intent, payer, recorder.now, status="succeeded")
    _approve(intent, charge, recorder)


def start_processing(
    account: Account, intent: PaymentIntent, payer: Payer, recorder: EventRecorder
) -> None:
    """A delayed-notification payment method: the outcome arrives later."""
    _new_charge(account, intent, payer, recorder.now, status="pending")
    intent.status = "processing"
    intent.last_payment_error = None
    recorder.emit("charge.pending", objects.charge_json(account.charges[_latest(intent)]))
    recorder.emit("payment_intent.processing", objects.payment_intent_json(intent))


def finish_processing(
    account: Account, intent: PaymentIntent, *, succeeded: bool, recorder: EventRecorder
) -> None:
    charge = account.charges[_latest(intent)]
    if succeeded:
        charge.status = "succeeded"
        _approve(intent, charge, recorder)
        return
    charge.status = "failed"
    charge.paid = False
    charge.failure_code = "payment_intent_payment_attempt_failed"
    charge.failure_message = "The payment failed."
    intent.status = "requires_payment_method"
    intent.last_payment_error = {
        "charge": charge.id,
        "code": "payment_intent_payment_attempt_failed",
        "doc_url": "https://stripe.com/docs/error-codes/payment-intent-payment-attempt-failed",
        "message": "The payment failed.",
        "type": "invalid_request_error",
    }
    recorder.emit("charge.failed", objects.charge_json(charge))
    recorder.emit("payment_intent.payment_failed", objects.payment_intent_json(intent))


def update(intent: PaymentIntent, changes: dict[str, Any], metadata: MetadataPatch | None) -> None:
    if metadata is not None:
        intent.metadata = metadata.apply(intent.metadata)
    if "description" in changes:
        intent.description = changes["description"]
    if "receipt_email" in changes:
        intent.receipt_email = changes["receipt_email"]


def capture(
    account: Account,
    intent: PaymentIntent,
    amount_to_capture: int | None,
    metadata: dict[str, str] | None,
    recorder: EventRecorder,
) -> None:
    if intent.status != "requires_capture":
        raise unexpected_state(
            "This PaymentIntent could not be captured because it has a status of "
            f"{intent.status}. Only a PaymentIntent with one of the following statuses may "
            "be captured: requires_capture.",
            payment_intent=objects.payment_intent_json(intent),
        )
    amount = intent.amount_capturable if amount_to_capture is None else amount_to_capture
    if amount > intent.amount_capturable:
        raise StripeError(
            400,
            f"The amount to capture ({amount}) must be less than or equal to the amount "
            f"capturable ({intent.amount_capturable}).",
            code="amount_too_large",
            param="amount_to_capture",
        )
    charge = account.charges[_latest(intent)]
    charge.captured = True
    charge.amount_captured = amount
    if metadata is not None:
        intent.metadata = metadata
    intent.status = "succeeded"
    intent.amount_received = amount
    intent.amount_capturable = 0
    recorder.emit("charge.captured", objects.charge_json(charge))
    recorder.emit("payment_intent.succeeded", objects.payment_intent_json(intent))


def cancel(
    account: Account, intent: PaymentIntent, reason: str | None, recorder: EventRecorder
) -> None:
    if intent.status not in CANCELLABLE:
        raise unexpected_state(
            "You cannot cancel this PaymentIntent because it has a status of "
            f"{intent.status}. Only a PaymentIntent with one of the following statuses may "
            f"be canceled: {', '.join(CANCELLABLE)}.",
            payment_intent=objects.payment_intent_json(intent),
        )
    session = account.checkout_sessions.get(intent.checkout_session or "")
    if session is not None and intent.status != "requires_capture":
        raise unexpected_state(
            "This PaymentIntent is managed by Checkout Session "
            f"{session.id}; only one in status requires_capture can be canceled directly. "
            "Expire the Checkout Session instead.",
            payment_intent=objects.payment_intent_json(intent),
        )
    _cancel(intent, reason, recorder)


def abandon(account: Account, intent: PaymentIntent, recorder: EventRecorder) -> None:
    """The session expired while its PaymentIntent still waited for a payment method."""
    if intent.status in ("requires_payment_method", "requires_confirmation", "requires_action"):
        _cancel(intent, "abandoned", recorder)


def lapse_if_due(account: Account, intent_id: str, recorder: EventRecorder) -> None:
    """Stripe cancels an uncaptured PaymentIntent 7 days after it was created."""
    intent = account.payment_intents.get(intent_id)
    if intent is None or intent.status != "requires_capture":
        return
    if recorder.now >= _authorization_deadline(intent):
        charge = account.charges[_latest(intent)]
        recorder.emit("charge.expired", objects.charge_json(charge))
        _cancel(intent, "automatic", recorder)


def refund(
    account: Account,
    *,
    intent_id: str | None,
    charge_id: str | None,
    amount: int | None,
    reason: str | None,
    metadata: dict[str, str],
    recorder: EventRecorder,
) -> Refund:
    if intent_id is not None:
        intent: PaymentIntent | None = find_intent(account, intent_id, param="payment_intent")
        assert intent is not None
        if intent.status != "succeeded" or intent.latest_charge is None:
            raise StripeError(
                400,
                f"This PaymentIntent ({intent.id}) does not have a successful charge to refund.",
                param="payment_intent",
            )
        charge = account.charges[intent.latest_charge]
        if charge_id is not None and charge_id != charge.id:
            raise StripeError(
                400,
                f"Charge {charge_id} does not belong to PaymentIntent {intent.id}.",
                param="charge",
            )
    else:
        assert charge_id is not None
        charge = find_charge(account, charge_id, param="charge")
        intent = account.payment_intents.get(charge.payment_intent)
        if charge.status != "succeeded" or not charge.captured:
            raise StripeError(
                400,
                f"Charge {charge.id} has not been captured and cannot be refunded.",
                param="charge",
            )
    remaining = charge.amount_captured - charge.amount_refunded
    if remaining <= 0:
        raise StripeError(
            400,
            f"Charge {charge.id} has already been refunded.",
            code="charge_already_refunded",
        )
    amount = remaining if amount is None else amount
    if amount > remaining:
        raise StripeError(
            400,
            f"Refund amount ({money.format_amount(amount, charge.currency)}) is greater than "
            f"unrefunded amount on charge ({money.format_amount(remaining, charge.currency)})",
            code="amount_too_large",
            param="amount",
        )
    created = Refund(
        id=new_id("re"),
        created=recorder.now,
        amount=amount,
        currency=charge.currency,
        charge=charge.id,
        payment_intent=intent.id if intent else None,
        reason=reason,
        metadata=metadata,
    )
    account.refunds[created.id] = created
    charge.amount_refunded += amount
    recorder.emit("refund.created", objects.refund_json(created))
    recorder.emit("charge.refunded", objects.charge_json(charge))
    return created


def _approve(intent: PaymentIntent, charge: Charge, recorder: EventRecorder) -> None:
    charge.paid = True
    intent.last_payment_error = None
    if intent.capture_method == "manual":
        intent.status = "requires_capture"
        intent.amount_capturable = intent.amount
        recorder.account.deadlines.push(
            _authorization_deadline(intent), ("payment_intent", intent.id)
        )
        recorder.emit("charge.succeeded", objects.charge_json(charge))
        recorder.emit(
            "payment_intent.amount_capturable_updated", objects.payment_intent_json(intent)
        )
        return
    charge.captured = True
    charge.amount_captured = charge.amount
    intent.status = "succeeded"
    intent.amount_received = intent.amount
    recorder.emit("charge.succeeded", objects.charge_json(charge))
    recorder.emit("payment_intent.succeeded", objects.payment_intent_json(intent))


def _authorization_deadline(intent: PaymentIntent) -> int:
    return intent.created + defaults.AUTHORIZATION_WINDOW_SECONDS


def _cancel(intent: PaymentIntent, reason: str | None, recorder: EventRecorder) -> None:
    intent.status = "canceled"
    intent.canceled_at = recorder.now
    intent.cancellation_reason = reason
    intent.amount_capturable = 0
    recorder.emit("payment_intent.canceled", objects.payment_intent_json(intent))


def _new_charge(
    account: Account, intent: PaymentIntent, payer: Payer, now: int, *, status: str
) -> Charge:
    payment_method = new_id("pm")
    charge = Charge(
        id=new_id("ch"),
        created=now,
        amount=intent.amount,
        currency=intent.currency,
        payment_intent=intent.id,
        payment_method=payment_method,
        billing_details=payer,
        customer=intent.customer,
        description=intent.description,
        metadata=dict(intent.metadata),
        receipt_email=intent.receipt_email,
        status=status,
        paid=False,
        captured=False,
    )
    account.charges[charge.id] = charge
    intent.latest_charge = charge.id
    intent.payment_method = payment_method
    return charge


def _latest(intent: PaymentIntent) -> str:
    assert intent.latest_charge is not None
    return intent.latest_charge

"""PaymentIntents after Checkout: automatic and manual capture, cancel, metadata, refunds."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import stripe
from integration.emulator.emulator_kit import Emulator, session_params

MANUAL = {"payment_intent_data": {"capture_method": "manual", "metadata": {"order": "A1"}}}


def paid_session(emulator: Emulator, **overrides: Any) -> Any:
    client = emulator.client()
    session = client.v1.checkout.sessions.create(params=session_params(**overrides))
    assert emulator.complete(session.id).status == 200
    return client.v1.checkout.sessions.retrieve(session.id, params={"expand": ["payment_intent"]})


def test_a_paid_session_has_a_succeeded_payment_intent_with_a_charge(emulator: Emulator) -> None:
    session = paid_session(emulator)

    intent = session.payment_intent
    assert (session.status, session.payment_status) == ("complete", "paid")
    assert isinstance(intent, stripe.PaymentIntent)
    assert intent.status == "succeeded"
    assert intent.amount == intent.amount_received == session.amount_total
    assert intent.amount_capturable == 0
    assert intent.latest_charge.startswith("ch_")


def test_manual_capture_authorizes_then_captures_part(emulator: Emulator) -> None:
    client = emulator.client()
    session = paid_session(emulator, **MANUAL)
    intent = session.payment_intent

    assert session.payment_status == "unpaid"
    assert intent.status == "requires_capture"
    assert intent.amount_capturable == session.amount_total == 2999
    assert intent.amount_received == 0
    assert intent.metadata.to_dict() == {"order": "A1"}

    captured = client.v1.payment_intents.capture(intent.id, params={"amount_to_capture": 2500})

    assert (captured.status, captured.amount_received, captured.amount_capturable) == (
        "succeeded",
        2500,
        0,
    )
    assert client.v1.checkout.sessions.retrieve(session.id).payment_status == "paid"
    charge = client.v1.charges.retrieve(captured.latest_charge)
    assert (charge.captured, charge.amount_captured) == (True, 2500)


def test_capture_above_the_authorized_amount_is_refused(emulator: Emulator) -> None:
    intent = paid_session(emulator, **MANUAL).payment_intent

    with pytest.raises(stripe.InvalidRequestError) as caught:
        emulator.client().v1.payment_intents.capture(intent.id, params={"amount_to_capture": 3000})

    assert caught.value.param == "amount_to_capture"
    assert emulator.client().v1.payment_intents.retrieve(intent.id).status == "requires_capture"


def test_capture_in_the_wrong_state_is_payment_intent_unexpected_state(
    emulator: Emulator,
) -> None:
    intent = paid_session(emulator).payment_intent

    with pytest.raises(stripe.InvalidRequestError) as caught:
        emulator.client().v1.payment_intents.capture(intent.id)

    assert caught.value.code == "payment_intent_unexpected_state"
    assert caught.value.error.payment_intent.id == intent.id
    assert "status of succeeded" in caught.value.user_message


def test_cancel_releases_an_authorization_but_not_a_captured_payment(emulator: Emulator) -> None:
    client = emulator.client()
    held = paid_session(emulator, **MANUAL).payment_intent
    captured = paid_session(emulator).payment_intent

    canceled = client.v1.payment_intents.cancel(
        held.id, params={"cancellation_reason": "requested_by_customer"}
    )
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.payment_intents.cancel(captured.id)

    assert (canceled.status, canceled.cancellation_reason) == ("canceled", "requested_by_customer")
    assert canceled.amount_capturable == 0
    assert caught.value.code == "payment_intent_unexpected_state"


def test_uncaptured_payments_are_canceled_after_seven_days(emulator: Emulator) -> None:
    intent = paid_session(emulator, **MANUAL).payment_intent

    emulator.advance_clock(7 * 24 * 3600)

    after = emulator.client().v1.payment_intents.retrieve(intent.id)
    assert (after.status, after.cancellation_reason) == ("canceled", "automatic")


def test_a_hold_captured_in_time_does_not_lapse_later(emulator: Emulator) -> None:
    client = emulator.client()
    captured = paid_session(emulator, **MANUAL).payment_intent
    held = paid_session(emulator, **MANUAL).payment_intent
    client.v1.payment_intents.capture(captured.id)

    emulator.advance_clock(8 * 24 * 3600)

    assert client.v1.payment_intents.retrieve(captured.id).status == "succeeded"
    assert client.v1.payment_intents.retrieve(held.id).status == "canceled"
    lapsed = client.v1.events.list(params={"type": "charge.expired"}).data
    assert [e.data.object.payment_intent for e in lapsed] == [held.id]


def test_metadata_updates_merge_and_empty_values_delete(emulator: Emulator) -> None:
    client = emulator.client()
    intent = paid_session(emulator, **MANUAL).payment_intent

    client.v1.payment_intents.update(intent.id, params={"metadata": {"shop_id": "demo"}})
    updated = client.v1.payment_intents.update(
        intent.id, params={"metadata": {"order": "", "checkout_id": "chk_1"}}
    )

    assert updated.metadata.to_dict() == {"shop_id": "demo", "checkout_id": "chk_1"}


def test_updating_amounts_is_refused_rather_than_ignored(emulator: Emulator) -> None:
    intent = paid_session(emulator, **MANUAL).payment_intent

    with pytest.raises(stripe.InvalidRequestError) as caught:
        emulator.client().v1.payment_intents.update(intent.id, params={"amount": 1})

    assert caught.value.param == "amount"


def test_partial_and_full_refunds_never_exceed_what_was_captured(emulator: Emulator) -> None:
    client = emulator.client()
    intent = paid_session(emulator).payment_intent

    partial = client.v1.refunds.create(
        params={"payment_intent": intent.id, "amount": 999, "reason": "requested_by_customer",
                "metadata": {"order": "A1"}},
        options={"idempotency_key": "refund-A1-1"},
    )  # fmt: skip
    with pytest.raises(stripe.InvalidRequestError) as too_much:
        client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 2001})
    rest = client.v1.refunds.create(params={"payment_intent": intent.id})
    with pytest.raises(stripe.InvalidRequestError) as nothing_left:
        client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 1})

    assert (partial.amount, partial.reason, partial.status) == (
        999,
        "requested_by_customer",
        "succeeded",
    )
    assert partial.metadata.to_dict() == {"order": "A1"}
    assert (too_much.value.code, too_much.value.param) == ("amount_too_large", "amount")
    assert rest.amount == 2000
    assert nothing_left.value.code == "charge_already_refunded"
    assert client.v1.refunds.retrieve(partial.id).amount == 999
    charge = client.v1.charges.retrieve(intent.latest_charge)
    assert (charge.amount_refunded, charge.refunded) == (2999, True)


def test_refunds_are_limited_to_the_captured_amount(emulator: Emulator) -> None:
    client = emulator.client()
    intent = paid_session(emulator, **MANUAL).payment_intent
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.refunds.create(params={"payment_intent": intent.id})
    client.v1.payment_intents.capture(intent.id, params={"amount_to_capture": 1000})

    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 1001})

    assert caught.value.code == "amount_too_large"


def test_concurrent_refunds_cannot_overdraw(emulator: Emulator) -> None:
    intent = paid_session(emulator).payment_intent

    def refund(_: int) -> bool:
        try:
            emulator.client().v1.refunds.create(
                params={"payment_intent": intent.id, "amount": 1000}
            )
        except stripe.InvalidRequestError:
            return False
        return True

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(refund, range(8)))

    assert outcomes.count(True) == 2
    assert emulator.count("sk_test_kassa", "refunds") == 2


def test_a_refund_needs_a_payment_intent_or_a_charge(emulator: Emulator) -> None:
    with pytest.raises(stripe.InvalidRequestError) as caught:
        emulator.client().v1.refunds.create(params={"amount": 100})

    assert caught.value.code == "parameter_missing"


def test_customers_can_be_created_updated_listed_and_retrieved(emulator: Emulator) -> None:
    client = emulator.client()

    customer = client.v1.customers.create(
        params={"email": "ada@example.com", "name": "Ada", "metadata": {"shop_id": "demo"}}
    )
    updated = client.v1.customers.update(customer.id, params={"name": "Ada L."})
    found = client.v1.customers.list(params={"email": "ada@example.com"})
    session = client.v1.checkout.sessions.create(params=session_params(customer=customer.id))

    assert customer.id.startswith("cus_")
    assert (updated.name, updated.email) == ("Ada L.", "ada@example.com")
    assert [c.id for c in found.data] == [customer.id]
    assert client.v1.customers.retrieve(customer.id).metadata.to_dict() == {"shop_id": "demo"}
    assert session.customer == customer.id
    completed = emulator.complete(session.id).json()
    assert completed["customer_details"]["email"] == "ada@example.com"

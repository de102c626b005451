"""The fields Kassa reads have Stripe's names and types, before and after payment."""

from __future__ import annotations

import re
from typing import Any

from integration.emulator.emulator_kit import Emulator, raw_request, session_params

NULLABLE_STR = (str, type(None))


def check_session_shape(session: dict[str, Any]) -> None:
    assert re.fullmatch(r"cs_test_[A-Za-z0-9]{20,}", session["id"])
    assert session["object"] == "checkout.session"
    assert session["status"] in ("open", "complete", "expired")
    assert session["payment_status"] in ("paid", "unpaid", "no_payment_required")
    assert isinstance(session["amount_total"], int)
    assert isinstance(session["amount_subtotal"], int)
    assert isinstance(session["currency"], str) and session["currency"].islower()
    assert isinstance(session["metadata"], dict)
    assert all(isinstance(v, str) for v in session["metadata"].values())
    assert isinstance(session["url"], NULLABLE_STR)
    assert isinstance(session["expires_at"], int)
    assert isinstance(session["created"], int)
    assert isinstance(session["payment_intent"], NULLABLE_STR)
    assert isinstance(session["customer_details"], dict | type(None))
    assert isinstance(session["client_reference_id"], NULLABLE_STR)
    assert isinstance(session["success_url"], str)
    assert isinstance(session["cancel_url"], NULLABLE_STR)
    assert session["livemode"] is False
    assert session["mode"] == "payment"
    for required in ("automatic_tax", "custom_fields", "custom_text", "payment_method_types",
                     "shipping_options"):  # fmt: skip
        assert required in session


def test_open_and_completed_sessions_have_stripes_shape(emulator: Emulator) -> None:
    client = emulator.client()
    created = client.v1.checkout.sessions.create(params=session_params())

    opened = raw_request(
        "GET",
        f"{emulator.url}/v1/checkout/sessions/{created.id}",
        headers={"Authorization": "Bearer sk_test_kassa"},
    ).json()
    check_session_shape(opened)
    assert opened["payment_intent"] is None
    assert opened["customer_details"] is None
    assert isinstance(opened["url"], str)

    completed = emulator.complete(
        created.id,
        customer={"email": "ada@example.com", "name": "Ada", "address": {"country": "DE"}},
    ).json()
    check_session_shape(completed)
    assert completed["url"] is None
    assert completed["payment_intent"].startswith("pi_")
    details = completed["customer_details"]
    assert (details["email"], details["name"]) == ("ada@example.com", "Ada")
    assert details["address"]["country"] == "DE"
    assert set(details["address"]) == {"city", "country", "line1", "line2", "postal_code", "state"}


def test_payment_intent_and_refund_shapes(emulator: Emulator) -> None:
    client = emulator.client()
    session = client.v1.checkout.sessions.create(params=session_params())
    emulator.complete(session.id)
    intent_id = client.v1.checkout.sessions.retrieve(session.id).payment_intent

    intent = client.v1.payment_intents.retrieve(intent_id)
    refund = client.v1.refunds.create(params={"payment_intent": intent_id, "amount": 100})

    assert intent.object == "payment_intent"
    assert re.fullmatch(r"pi_[A-Za-z0-9]{24}", intent.id)
    assert intent.latest_charge.startswith("ch_")
    assert intent.client_secret.startswith(f"{intent.id}_secret_")
    assert (intent.capture_method, intent.currency) == ("automatic", "eur")
    assert refund.object == "refund"
    assert refund.id.startswith("re_")
    assert (refund.status, refund.charge, refund.payment_intent) == (
        "succeeded",
        intent.latest_charge,
        intent.id,
    )
    charge = client.v1.charges.retrieve(intent.latest_charge)
    assert (charge.amount_captured, charge.amount_refunded, charge.refunded) == (2999, 100, False)


def test_charge_and_refund_carry_the_fields_stripe_always_sends(emulator: Emulator) -> None:
    client = emulator.client()
    session = client.v1.checkout.sessions.create(params=session_params())
    emulator.complete(session.id)
    intent = client.v1.payment_intents.retrieve(
        client.v1.checkout.sessions.retrieve(session.id).payment_intent
    )

    charge = client.v1.charges.retrieve(intent.latest_charge)
    refund = client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 100})

    card = charge.payment_method_details.card
    always_null = ("amount_authorized", "checks", "fingerprint", "installments", "mandate",
                   "network_token", "three_d_secure", "wallet")  # fmt: skip
    assert {name: card[name] for name in always_null} == dict.fromkeys(always_null)
    assert (card.brand, card.last4, card.exp_year) == ("visa", "4242", 2034)
    destination = refund.destination_details
    assert destination.type == "card"
    assert (destination.card.type, destination.card.reference_status) == ("refund", "pending")

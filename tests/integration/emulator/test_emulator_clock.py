"""The emulator clock, session expiry and the completion test controls."""

from __future__ import annotations

import time

import pytest
import stripe
from integration.emulator.emulator_kit import Emulator, session_params


def test_the_clock_starts_at_wall_time_and_advances(emulator: Emulator) -> None:
    start = emulator.now()

    later = emulator.advance_clock(3600)

    assert abs(start - time.time()) < 5
    assert later - start >= 3600
    assert emulator.control("POST", "/clock/advance", {"seconds": -1}).status == 400


def test_advancing_past_expires_at_expires_the_session_and_emits_an_event(
    emulator: Emulator,
) -> None:
    client = emulator.client()
    now = emulator.now()
    session = client.v1.checkout.sessions.create(params=session_params(expires_at=now + 3600))

    emulator.advance_clock(3000)  # real seconds pass too on a loaded machine: keep a margin
    assert client.v1.checkout.sessions.retrieve(session.id).status == "open"
    emulator.advance_clock(600)

    expired = client.v1.checkout.sessions.retrieve(session.id)
    assert (expired.status, expired.url) == ("expired", None)
    events = client.v1.events.list(params={"type": "checkout.session.expired"}).data
    assert [e.data.object.id for e in events] == [session.id]
    refused = emulator.complete(session.id)
    assert refused.status == 400
    assert refused.json()["error"]["code"] == "checkout_session_expired"


def test_expire_works_only_while_open(emulator: Emulator) -> None:
    client = emulator.client()
    session = client.v1.checkout.sessions.create(params=session_params())

    expired = client.v1.checkout.sessions.expire(session.id)
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.checkout.sessions.expire(session.id)

    assert (expired.status, expired.url) == ("expired", None)
    assert caught.value.http_status == 400
    assert caught.value.user_message == (
        'Only Checkout Sessions with a status in ["open"] can be expired. This Checkout '
        "Session has a status of `expired`."
    )
    assert emulator.complete(session.id, "declined").status == 400


def test_a_completed_session_cannot_be_completed_or_expired_again(emulator: Emulator) -> None:
    client = emulator.client()
    session = client.v1.checkout.sessions.create(params=session_params())
    assert emulator.complete(session.id).status == 200

    again = emulator.complete(session.id)
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.checkout.sessions.expire(session.id)

    assert again.status == 400
    assert again.json()["error"]["code"] == "checkout_session_complete"


def test_complete_takes_the_customer_and_returns_the_session(emulator: Emulator) -> None:
    session = emulator.client().v1.checkout.sessions.create(params=session_params())

    response = emulator.complete(
        session.id,
        "async_pending",
        customer={"email": "ada@example.com", "name": "Ada", "address": {"country": "GB"}},
    )

    body = response.json()
    assert response.status == 200
    assert (body["object"], body["status"], body["payment_status"]) == (
        "checkout.session",
        "complete",
        "unpaid",
    )
    assert body["customer_details"]["address"]["country"] == "GB"
    failed = emulator.settle_async(session.id, "failed").json()
    assert failed["payment_status"] == "unpaid"
    assert emulator.settle_async(session.id, "succeeded").status == 400


def test_declined_attempts_leave_the_session_open(emulator: Emulator) -> None:
    session = emulator.client().v1.checkout.sessions.create(params=session_params())

    body = emulator.complete(session.id, "declined").json()

    assert (body["status"], body["payment_intent"]) == ("open", None)
    events = emulator.client().v1.events.list(params={"type": "payment_intent.payment_failed"})
    assert events.data[0].data.object.last_payment_error.code == "card_declined"


def test_control_requests_are_validated(emulator: Emulator) -> None:
    session = emulator.client().v1.checkout.sessions.create(params=session_params())

    bad_outcome = emulator.complete(session.id, "maybe")
    unknown = emulator.complete("cs_test_unknown")

    assert bad_outcome.status == 400
    assert bad_outcome.json()["error"]["type"] == "invalid_request_error"
    assert unknown.status == 404


def sweep_visits(emulator: Emulator) -> int:
    state = emulator.server.state
    with state.lock:
        return state.sweep_visits


def test_calls_do_not_revisit_the_sessions_held_only_what_falls_due(emulator: Emulator) -> None:
    """Every call applies the passage of time; it must not cost a scan of every session."""
    client = emulator.client()
    held = 60
    sessions = [
        client.v1.checkout.sessions.create(params=session_params()) for _ in range(held)
    ]  # each POST also stores the SDK's idempotency key: 60 keys due in 24 h
    client.v1.checkout.sessions.expire(sessions[0].id)
    emulator.complete(sessions[1].id)
    before = sweep_visits(emulator)

    for session in sessions[:20]:
        client.v1.checkout.sessions.retrieve(session.id)
    assert sweep_visits(emulator) == before

    emulator.advance_clock(24 * 3600 + 1)
    after_expiry = sweep_visits(emulator)
    for session in sessions[:20]:
        client.v1.checkout.sessions.retrieve(session.id)

    # Each session's deadline and each key's were visited once, and calls after add nothing.
    assert after_expiry - before == held + held + 1  # the expire call stored a key too
    assert sweep_visits(emulator) == after_expiry
    expired = client.v1.events.list(params={"type": "checkout.session.expired", "limit": 100})
    assert sorted(e.data.object.id for e in expired.data) == sorted(
        s.id for s in sessions if s.id != sessions[1].id
    )
    assert client.v1.checkout.sessions.retrieve(sessions[1].id).status == "complete"

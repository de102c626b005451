"""Idempotency keys behave as Stripe's: replay, mismatch, endpoint, 409, 24 h, per account."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import stripe
from integration.emulator.emulator_kit import Emulator, raw_request, session_params

from devstack.processes import wait_for

KEY = "checkout-chk_1-v1"


def test_same_key_and_parameters_replay_the_first_response(emulator: Emulator) -> None:
    client = emulator.client()

    first = client.v1.checkout.sessions.create(
        params=session_params(), options={"idempotency_key": KEY}
    )
    second = client.v1.checkout.sessions.create(
        params=session_params(), options={"idempotency_key": KEY}
    )

    assert second.id == first.id
    assert second.to_dict() == first.to_dict()
    assert second.last_response.body == first.last_response.body
    assert second.last_response.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.last_response.headers
    assert second.last_response.headers["Original-Request"] == first.last_response.request_id
    assert second.last_response.idempotency_key == KEY
    assert emulator.count("sk_test_kassa", "checkout_sessions") == 1


def test_same_key_with_other_parameters_is_an_idempotency_error(emulator: Emulator) -> None:
    client = emulator.client()
    client.v1.checkout.sessions.create(params=session_params(), options={"idempotency_key": KEY})

    with pytest.raises(stripe.IdempotencyError) as caught:
        client.v1.checkout.sessions.create(
            params=session_params(client_reference_id="chk_2"), options={"idempotency_key": KEY}
        )

    assert caught.value.http_status == 400
    assert caught.value.error.type == "idempotency_error"
    assert "same parameters" in caught.value.user_message
    assert emulator.count("sk_test_kassa", "checkout_sessions") == 1


def test_same_key_on_another_endpoint_is_an_idempotency_error(emulator: Emulator) -> None:
    client = emulator.client()
    client.v1.checkout.sessions.create(params=session_params(), options={"idempotency_key": KEY})

    with pytest.raises(stripe.IdempotencyError) as caught:
        client.v1.customers.create(
            params={"email": "a@example.com"}, options={"idempotency_key": KEY}
        )

    assert "same endpoint" in caught.value.user_message


def test_keys_are_scoped_per_account(emulator: Emulator) -> None:
    first = emulator.client("sk_test_shop_a").v1.checkout.sessions.create(
        params=session_params(), options={"idempotency_key": KEY}
    )
    second = emulator.client("sk_test_shop_b").v1.checkout.sessions.create(
        params=session_params(), options={"idempotency_key": KEY}
    )

    assert first.id != second.id
    assert "Idempotent-Replayed" not in second.last_response.headers


@pytest.mark.parametrize("slow_first", [False, True], ids=["fast", "slow-first-forces-409s"])
def test_ten_concurrent_creates_with_one_key_make_one_session(
    emulator: Emulator, slow_first: bool
) -> None:
    if slow_first:
        emulator.inject(method="POST", path_prefix="/v1/checkout/sessions", slow_seconds=0.3)
    barrier = threading.Barrier(10)

    def create(_: int) -> str:
        client = emulator.client(retries=5)
        barrier.wait()
        session = client.v1.checkout.sessions.create(
            params=session_params(), options={"idempotency_key": KEY}
        )
        return str(session.id)

    with ThreadPoolExecutor(max_workers=10) as pool:
        ids = list(pool.map(create, range(10)))

    assert len(set(ids)) == 1
    assert emulator.count("sk_test_kassa", "checkout_sessions") == 1


def test_a_request_while_the_first_is_running_gets_409_then_the_replay(
    emulator: Emulator,
) -> None:
    emulator.inject(method="POST", path_prefix="/v1/checkout/sessions", slow_seconds=3.0)
    results: dict[str, Any] = {}

    def first_request() -> None:
        results["first"] = emulator.client().v1.checkout.sessions.create(
            params=session_params(), options={"idempotency_key": KEY}
        )

    thread = threading.Thread(target=first_request)
    thread.start()
    wait_for(lambda: not emulator.pending_faults(), what="the first request to hold the key")
    with pytest.raises(stripe.APIError) as caught:
        emulator.client().v1.checkout.sessions.create(
            params=session_params(), options={"idempotency_key": KEY}
        )
    thread.join()

    assert caught.value.http_status == 409
    assert caught.value.error.code == "idempotency_key_in_use"
    again = emulator.client().v1.checkout.sessions.create(
        params=session_params(), options={"idempotency_key": KEY}
    )
    assert again.id == results["first"].id
    assert again.last_response.headers["Idempotent-Replayed"] == "true"


def test_validation_failures_are_not_stored(emulator: Emulator) -> None:
    client = emulator.client()
    broken = session_params()
    del broken["success_url"]
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.checkout.sessions.create(params=broken, options={"idempotency_key": KEY})

    session = client.v1.checkout.sessions.create(
        params=session_params(), options={"idempotency_key": KEY}
    )

    assert session.status == "open"


def test_errors_from_a_running_endpoint_are_stored_and_replayed(emulator: Emulator) -> None:
    client = emulator.client()
    session = client.v1.checkout.sessions.create(params=session_params())
    emulator.complete(session.id)
    intent_id = client.v1.checkout.sessions.retrieve(session.id).payment_intent
    headers = {"Authorization": "Bearer sk_test_kassa", "Idempotency-Key": KEY}
    url = f"{emulator.url}/v1/payment_intents/{intent_id}/capture"

    first = raw_request("POST", url, form={}, headers=headers)
    replay = raw_request("POST", url, form={}, headers=headers)

    assert first.status == replay.status == 400
    assert first.json()["error"]["code"] == "payment_intent_unexpected_state"
    assert replay.body == first.body
    assert replay.headers["idempotent-replayed"] == "true"
    assert first.headers["idempotency-key"] == KEY


def test_keys_expire_after_24_hours_of_emulator_time(emulator: Emulator) -> None:
    client = emulator.client()
    first = client.v1.checkout.sessions.create(
        params=session_params(), options={"idempotency_key": KEY}
    )

    emulator.advance_clock(24 * 3600)
    second = client.v1.checkout.sessions.create(
        params=session_params(), options={"idempotency_key": KEY}
    )

    assert second.id != first.id
    assert emulator.count("sk_test_kassa", "checkout_sessions") == 2


def test_get_requests_ignore_the_key(emulator: Emulator) -> None:
    session = emulator.client().v1.checkout.sessions.create(params=session_params())
    url = f"{emulator.url}/v1/checkout/sessions/{session.id}"
    headers = {"Authorization": "Bearer sk_test_kassa", "Idempotency-Key": KEY}

    first = raw_request("GET", url, headers=headers)
    emulator.complete(session.id)
    second = raw_request("GET", url, headers=headers)

    assert first.json()["status"] == "open"
    assert second.json()["status"] == "complete"
    assert "idempotent-replayed" not in second.headers

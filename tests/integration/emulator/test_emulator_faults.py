"""Injected faults: 5xx, 429 and hangs, applied before auth and idempotency."""

from __future__ import annotations

import time

import pytest
import stripe
from integration.emulator.emulator_kit import Emulator, raw_request, session_params

from devstack.processes import wait_for


def test_a_client_with_two_retries_survives_two_injected_500s(emulator: Emulator) -> None:
    emulator.inject(method="POST", path_prefix="/v1/checkout/sessions", status=500, count=2)

    session = emulator.client(retries=2).v1.checkout.sessions.create(params=session_params())

    assert session.status == "open"
    assert emulator.count("sk_test_kassa", "checkout_sessions") == 1
    assert emulator.control("GET", "/faults").json() == {"faults": []}


def test_without_retries_an_injected_500_raises_api_error_and_stores_nothing(
    emulator: Emulator,
) -> None:
    emulator.inject(method="POST", path_prefix="/v1/checkout/sessions", status=503)
    client = emulator.client()

    with pytest.raises(stripe.APIError) as caught:
        client.v1.checkout.sessions.create(
            params=session_params(), options={"idempotency_key": "k"}
        )
    session = client.v1.checkout.sessions.create(
        params=session_params(), options={"idempotency_key": "k"}
    )

    assert caught.value.http_status == 503
    assert caught.value.error.type == "api_error"
    assert "Idempotent-Replayed" not in session.last_response.headers
    assert emulator.count("sk_test_kassa", "checkout_sessions") == 1


def test_an_injected_429_raises_rate_limit_error_and_is_not_retried(emulator: Emulator) -> None:
    emulator.inject(method="POST", path_prefix="/v1/refunds", status=429, count=1)

    with pytest.raises(stripe.RateLimitError) as caught:
        emulator.client(retries=2).v1.refunds.create(params={"payment_intent": "pi_x"})

    assert caught.value.http_status == 429
    assert caught.value.error.code == "rate_limit"
    assert emulator.control("GET", "/faults").json() == {"faults": []}


def test_a_hang_makes_the_client_time_out_and_its_retry_creates_exactly_one_session(
    emulator: Emulator,
) -> None:
    # A 2 s client timeout, so that the retry itself never times out on a loaded machine.
    emulator.inject(method="POST", path_prefix="/v1/checkout/sessions", hang_seconds=4.0)
    client = emulator.client(retries=1, http_client=stripe.RequestsClient(timeout=2.0))
    started = time.monotonic()

    session = client.v1.checkout.sessions.create(
        params=session_params(), options={"idempotency_key": "k-hang"}
    )

    assert time.monotonic() - started >= 2.0
    # The hung attempt resumes later, meets the stored key, and replays instead of creating.
    time.sleep(max(0.0, 4.0 - (time.monotonic() - started)) + 0.3)
    assert emulator.count("sk_test_kassa", "checkout_sessions") == 1
    assert session.status == "open"


def test_faults_match_method_and_path_prefix_and_can_be_cleared(emulator: Emulator) -> None:
    emulator.inject(method="POST", path_prefix="/v1/refunds", status=500, count=5)
    client = emulator.client()

    created = client.v1.checkout.sessions.create(params=session_params())
    listed = client.v1.refunds.list()
    cleared = emulator.control("DELETE", "/faults")

    assert created.status == "open"
    assert listed.data == []
    assert cleared.json() == {"faults": []}
    assert client.v1.customers.create(params={"email": "a@example.com"}).id.startswith("cus_")


def test_faults_apply_before_authentication(emulator: Emulator) -> None:
    emulator.inject(method="GET", path_prefix="/v1/", status=502)

    response = raw_request("GET", f"{emulator.url}/v1/checkout/sessions")

    assert response.status == 502
    assert response.json()["error"]["type"] == "api_error"


def test_fault_requests_are_validated(emulator: Emulator) -> None:
    both = emulator.control(
        "POST", "/faults", {"path_prefix": "/v1/", "status": 500, "hang_seconds": 1}
    )
    neither = emulator.control("POST", "/faults", {"path_prefix": "/v1/"})

    assert both.status == neither.status == 400
    assert wait_for(lambda: emulator.control("GET", "/faults").json() == {"faults": []})

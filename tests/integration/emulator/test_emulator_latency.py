"""Realistic Stripe latency: every API call waits a fixed or jittered delay, side by side.

Only lower bounds on time are asserted: a loaded machine makes calls slower, never faster.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from integration.emulator.emulator_kit import Emulator, raw_request, session_params

from devstack.processes import wait_for
from stripe_emulator import EmulatorServer, defaults


def latency(emulator: Emulator, **body: Any) -> dict[str, Any]:
    response = emulator.control("POST", "/latency", body)
    assert response.status == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def timed(call: Any) -> float:
    started = time.monotonic()
    call()
    return time.monotonic() - started


def test_a_fixed_latency_delays_every_api_call(emulator: Emulator) -> None:
    client = emulator.client()
    session = client.v1.checkout.sessions.create(params=session_params())

    assert latency(emulator, ms=300) == {"min_ms": 300, "max_ms": 300, "delayed": 0, "waiting": 0}
    elapsed = [
        timed(lambda: client.v1.checkout.sessions.retrieve(session.id)),
        timed(lambda: client.v1.checkout.sessions.create(params=session_params())),
        timed(lambda: client.v1.events.list()),
    ]

    assert all(seconds >= 0.3 for seconds in elapsed), elapsed
    assert emulator.control("GET", "/latency").json()["delayed"] == 3


def test_a_jittered_latency_waits_at_least_its_minimum(emulator: Emulator) -> None:
    client = emulator.client()
    latency(emulator, min_ms=150, max_ms=250)

    elapsed = [timed(lambda: client.v1.customers.list()) for _ in range(3)]

    assert all(seconds >= 0.15 for seconds in elapsed), elapsed


def test_controls_and_the_hosted_page_are_not_delayed(emulator: Emulator) -> None:
    session = emulator.client().v1.checkout.sessions.create(params=session_params())
    latency(emulator, ms=200)

    assert raw_request("GET", session.url).status == 200
    assert emulator.complete(session.id).status == 200
    assert emulator.control("GET", "/state").status == 200
    assert emulator.control("GET", "/latency").json()["delayed"] == 0

    emulator.client().v1.checkout.sessions.retrieve(session.id)
    assert emulator.control("GET", "/latency").json()["delayed"] == 1


def test_delayed_calls_wait_side_by_side_not_in_line(emulator: Emulator) -> None:
    client = emulator.client()
    session = client.v1.checkout.sessions.create(params=session_params())
    latency(emulator, ms=1500)
    elapsed: list[float] = []

    def retrieve() -> None:
        seconds = timed(lambda: client.v1.checkout.sessions.retrieve(session.id))
        elapsed.append(seconds)

    threads = [threading.Thread(target=retrieve) for _ in range(4)]
    for thread in threads:
        thread.start()
    # A server handling one request at a time would never have four waiting at once.
    wait_for(lambda: emulator.control("GET", "/latency").json()["waiting"] == 4, timeout=20)
    for thread in threads:
        thread.join(timeout=60)

    assert len(elapsed) == 4
    assert all(seconds >= 1.5 for seconds in elapsed), elapsed


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"ms": -1},
        {"ms": defaults.LATENCY_MAX_MS + 1},
        {"min_ms": 300, "max_ms": 200},
        {"min_ms": 100},
        {"ms": 100, "min_ms": 100, "max_ms": 200},
        {"ms": "slow"},
    ],
)
def test_bad_latency_settings_are_refused(emulator: Emulator, body: dict[str, Any]) -> None:
    response = emulator.control("POST", "/latency", body)

    assert response.status == 400
    assert response.json()["error"]["code"] == "invalid_body"
    assert emulator.control("GET", "/latency").json()["max_ms"] == 0


def test_reset_restores_the_configured_latency(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(defaults.ENV_LATENCY_MS, "200-300")
    with EmulatorServer() as from_env, EmulatorServer(latency_ms=(40, 60)) as from_arg:
        env_emulator, arg_emulator = Emulator(from_env), Emulator(from_arg)
        latency(env_emulator, ms=0)
        env_emulator.reset()

        configured = env_emulator.control("GET", "/latency").json()
        assert (configured["min_ms"], configured["max_ms"]) == (200, 300)
        given = arg_emulator.control("GET", "/latency").json()
        assert (given["min_ms"], given["max_ms"]) == (40, 60)
        assert timed(lambda: env_emulator.client().v1.customers.list()) >= 0.2


@pytest.mark.parametrize("value", ["fast", "300-200", "-5", "1-2-3"])
def test_a_malformed_latency_setting_stops_the_start(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv(defaults.ENV_LATENCY_MS, value)

    with pytest.raises(ValueError, match=defaults.ENV_LATENCY_MS):
        EmulatorServer()

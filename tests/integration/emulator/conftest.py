"""Fixtures: one emulator per module, reset before each test, and a webhook receiver."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from integration.emulator.emulator_kit import RETRY_DELAYS, Emulator, WebhookReceiver

from stripe_emulator import EmulatorServer


@pytest.fixture(scope="module")
def emulator_server() -> Iterator[EmulatorServer]:
    with EmulatorServer(webhook_retry_delays=RETRY_DELAYS, webhook_timeout=2.0) as server:
        yield server


@pytest.fixture
def emulator(emulator_server: EmulatorServer) -> Emulator:
    emulator = Emulator(emulator_server)
    emulator.reset()
    return emulator


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    receiver.start()
    yield receiver
    receiver.stop()

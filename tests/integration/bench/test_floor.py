"""The floor that ``bench/run.py`` prints beside Kassa (``bench/floor.py``) makes the one
Stripe call a checkout cannot do without, and its webhook view does nothing: a floor that
skipped the call would flatter the ratio left for Kassa's own work, one that did more
would hide it."""

from __future__ import annotations

from typing import Any

import floor
from stack import STRIPE_KEY

from stripe_emulator import EmulatorServer


def sessions_of(emulator: EmulatorServer) -> dict[str, Any]:
    account = emulator.state.account(STRIPE_KEY)
    return dict(account.checkout_sessions)


def test_the_checkout_floor_creates_one_session_and_the_webhook_floor_nothing(
    emulator: EmulatorServer,
) -> None:
    client = floor.create_floor_app(emulator.url, STRIPE_KEY).test_client()

    made = client.post("/api/checkout", json={"lines": [{"sku": "MUG-WHITE", "quantity": 1}]})
    assert made.status_code == 201
    (session,) = sessions_of(emulator).values()
    assert session.metadata["checkout_id"] == made.json["checkout_id"]
    assert made.json["url"]

    acked = client.post("/webhooks/stripe/demo", data=b'{"id": "evt_1"}')
    assert acked.status_code == 200 and acked.json == {"result": "floor"}
    assert len(sessions_of(emulator)) == 1

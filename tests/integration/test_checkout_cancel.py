"""Abandoning a checkout (``POST /api/checkout/<id>/cancel``) and reading its status while
Stripe misbehaves: the stock goes back only once the session can no longer be paid, a
payment that won the race becomes the order, and an unreachable Stripe changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
import requests
import stripe
from support import Storefront, db, inject_fault, pay

from kassa.bootstrap import Container
from ops.seed import seed_shop_in
from stripe_emulator.server import EmulatorServer

RESERVED = "SELECT reserved FROM inventory_levels WHERE sku = 'MUG-WHITE'"
STATE = "SELECT state FROM checkouts"


@pytest.fixture(autouse=True)
def demo(container: Container) -> None:
    with container.uow() as uow:
        seed_shop_in(uow, "demo", container.settings, stripe_api_key="sk_test_kassa_demo")


def start(client: Any) -> tuple[Storefront, dict[str, Any]]:
    shop = Storefront(client)
    resp = shop.checkout({"lines": [{"sku": "MUG-WHITE", "quantity": 2}]}, key="cancel-1")
    assert resp.status_code == 201, resp.get_json()
    body: dict[str, Any] = resp.get_json()
    return shop, body


def stripe_is_back(emulator: EmulatorServer) -> None:
    requests.delete(f"{emulator.url}/_emulator/faults", timeout=5).raise_for_status()


def cancel(shop: Storefront, checkout_id: str) -> Any:
    return shop.client.post(f"/api/checkout/{checkout_id}/cancel", headers=shop.headers)


def test_cancelling_releases_the_hold_and_a_second_cancel_changes_nothing(
    client: Any, container: Container, emulator: EmulatorServer
) -> None:
    shop, body = start(client)
    first = cancel(shop, body["checkout_id"])
    assert first.status_code == 200 and first.get_json()["state"] == "expired"
    assert db(container, RESERVED) == 0
    stripe_api = stripe.StripeClient("sk_test_kassa_demo", base_addresses={"api": emulator.url})
    session = stripe_api.v1.checkout.sessions.retrieve(body["session_id"])
    assert session.status == "expired"  # nobody can pay for the released units

    second = cancel(shop, body["checkout_id"])
    assert second.status_code == 200 and second.get_json() == first.get_json()
    assert db(container, "SELECT count(*) FROM checkouts") == 1 and db(container, STATE) == (
        "expired"
    )


def test_a_payment_made_before_the_cancel_wins_and_becomes_the_order(
    client: Any, container: Container, emulator: EmulatorServer
) -> None:
    """Paid in another tab, no webhook yet: Stripe refuses to expire a completed session,
    so nothing is released and the status read that follows fulfils the payment."""
    shop, body = start(client)
    pay(emulator.url, body["session_id"])
    resp = cancel(shop, body["checkout_id"])
    assert resp.status_code == 200
    status = resp.get_json()
    assert status["state"] == "fulfilled" and status["order"]["status"] == "paid"
    assert db(container, "SELECT count(*) FROM orders") == 1
    assert db(container, "SELECT on_hand FROM inventory_levels WHERE sku = 'MUG-WHITE'") == 48


def test_a_cancel_stripe_could_not_hear_keeps_the_hold_for_a_later_try(
    client: Any, container: Container, emulator: EmulatorServer
) -> None:
    shop, body = start(client)
    inject_fault(emulator.url, f"/v1/checkout/sessions/{body['session_id']}/expire", 500, 20)
    resp = cancel(shop, body["checkout_id"])
    stripe_is_back(emulator)
    assert resp.status_code == 200 and resp.get_json()["state"] == "open"
    assert db(container, RESERVED) == 2 and db(container, STATE) == "open"

    assert cancel(shop, body["checkout_id"]).get_json()["state"] == "expired"  # Stripe answers now
    assert db(container, RESERVED) == 0


def test_the_status_says_what_it_knows_while_stripe_is_unreachable(
    client: Any, container: Container, emulator: EmulatorServer
) -> None:
    shop, body = start(client)
    pay(emulator.url, body["session_id"])  # and the webhook is lost
    inject_fault(emulator.url, "/v1/checkout/sessions/", 500, count=20, method="GET")
    resp = shop.status(body["checkout_id"])
    stripe_is_back(emulator)
    assert resp.status_code == 200 and resp.get_json() == {"state": "open", "order": None}
    assert db(container, "SELECT count(*) FROM orders") == 0

    after = shop.status(body["checkout_id"]).get_json()
    assert after["state"] == "fulfilled" and after["order"]["status"] == "paid"


def test_a_session_that_lapsed_at_stripe_unnoticed_is_released_on_cancel(
    client: Any, container: Container, emulator: EmulatorServer
) -> None:
    """Stripe expired the session and no webhook came: Stripe refuses to expire it again,
    says it is expired, and the hold goes back."""
    shop, body = start(client)
    requests.post(
        f"{emulator.url}/_emulator/clock/advance", json={"seconds": 2 * 3600}, timeout=5
    ).raise_for_status()
    resp = cancel(shop, body["checkout_id"])
    assert resp.status_code == 200 and resp.get_json()["state"] == "expired"
    assert db(container, RESERVED) == 0

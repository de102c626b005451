"""Authentic webhooks that Kassa cannot act on: refused (so Stripe's retry reaches a fixed
server) when they cannot be read, acknowledged when they name nothing of ours. Either way
nothing about stock or orders changes."""

from __future__ import annotations

import time
from typing import Any

import pytest
from support import api_checkout, db, lapse, session_event, signed_post

from kassa.bootstrap import Container


def event_of(event_type: str, obj: dict[str, Any], event_id: str = "evt_edge_1") -> dict[str, Any]:
    return {
        "id": event_id,
        "object": "event",
        "type": event_type,
        "created": int(time.time()),
        "data": {"object": obj},
    }


def nothing_recorded(container: Container) -> bool:
    return db(container, "SELECT count(*) FROM stripe_events") == 0


def test_a_shop_without_a_webhook_secret_refuses_every_event(
    shop_secret: str, live_server: str, container: Container
) -> None:
    """tokyo never registered an endpoint: no signature can be checked, so none is trusted."""
    event = session_event({"id": "cs_t", "object": "checkout.session", "payment_status": "paid"})
    resp = signed_post(live_server, shop_secret, event, shop="tokyo")
    assert resp.status_code == 400
    error = resp.json()["error"]
    assert error["code"] == "webhook_rejected" and "no webhook secret" in error["message"]
    assert nothing_recorded(container)


def test_a_session_that_cannot_be_read_is_refused(
    shop_secret: str, live_server: str, container: Container
) -> None:
    unreadable = {"id": "cs_bad", "object": "checkout.session", "payment_status": "maybe"}
    resp = signed_post(live_server, shop_secret, session_event(unreadable))
    assert resp.status_code == 400
    error = resp.json()["error"]
    assert error["code"] == "webhook_rejected" and "session could not be read" in error["message"]
    assert nothing_recorded(container)


def test_a_cancelled_payment_intent_without_an_id_is_refused(
    shop_secret: str, live_server: str, container: Container
) -> None:
    event = event_of("payment_intent.canceled", {"object": "payment_intent", "id": None})
    resp = signed_post(live_server, shop_secret, event)
    assert resp.status_code == 400
    error = resp.json()["error"]
    assert error["code"] == "webhook_rejected" and "PaymentIntent" in error["message"]
    assert nothing_recorded(container)


@pytest.mark.parametrize(
    "checkout_id", ["not-a-uuid", "00000000-0000-4000-8000-000000000000"], ids=["bad", "unknown"]
)
@pytest.mark.parametrize(
    ("event_type", "status", "payment_status"),
    [
        ("checkout.session.expired", "expired", "unpaid"),
        ("checkout.session.completed", "complete", "paid"),
    ],
    ids=["expired", "completed"],
)
def test_an_event_naming_no_checkout_of_ours_is_acknowledged_once(
    shop_secret: str,
    live_server: str,
    container: Container,
    checkout_id: str,
    event_type: str,
    status: str,
    payment_status: str,
) -> None:
    reserved = "SELECT sum(reserved) FROM inventory_levels WHERE shop_id = 'demo'"
    before = db(container, reserved)
    session = {
        "id": "cs_gone",
        "object": "checkout.session",
        "status": status,
        "payment_status": payment_status,
        "amount_total": 2900,
        "currency": "usd",
        "metadata": {"shop_id": "demo", "checkout_id": checkout_id},
    }
    event = session_event(session, event_type, "evt_names_nothing")
    resp = signed_post(live_server, shop_secret, event)
    assert resp.status_code == 200 and resp.json() == {
        "received": True,
        "result": "unknown_checkout",
    }
    again = signed_post(live_server, shop_secret, event)
    assert again.status_code == 200 and again.json()["result"] == "duplicate"
    assert db(container, "SELECT type FROM stripe_events") == event_type
    assert db(container, reserved) == before
    assert db(container, "SELECT count(*) FROM checkouts") == 0
    assert db(container, "SELECT count(*) FROM outbox") == 0  # no refund of unknown money


def test_an_expiry_after_the_reaper_released_the_hold_releases_nothing_more(
    shop_secret: str, live_server: str, container: Container
) -> None:
    co = api_checkout(live_server, "MUG-WHITE", 2, key="reaped")
    lapse(container, co["checkout_id"])
    reserved = "SELECT reserved FROM inventory_levels WHERE sku = 'MUG-WHITE'"
    assert db(container, reserved) == 0
    session = {
        "id": co["session_id"],
        "object": "checkout.session",
        "status": "expired",
        "payment_status": "unpaid",
        "metadata": {"shop_id": "demo", "checkout_id": co["checkout_id"]},
    }
    event = session_event(session, "checkout.session.expired", "evt_after_reaper")
    resp = signed_post(live_server, shop_secret, event)
    assert resp.status_code == 200 and resp.json()["result"] == "already_expired"
    assert db(container, reserved) == 0

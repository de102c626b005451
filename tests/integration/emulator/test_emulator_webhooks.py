"""Webhooks: endpoints, Stripe's signature, at-least-once delivery, retries, test modes."""

from __future__ import annotations

import time
from typing import Any

import pytest
import stripe
from integration.emulator.emulator_kit import (
    RETRY_DELAYS,
    Emulator,
    WebhookReceiver,
    session_params,
)

from devstack.processes import wait_for


def register(emulator: Emulator, receiver: WebhookReceiver, events: list[str] | None = None) -> Any:
    return emulator.client().v1.webhook_endpoints.create(
        params={"url": receiver.url, "enabled_events": events or ["*"]}
    )


def pay(emulator: Emulator, **overrides: Any) -> Any:
    session = emulator.client().v1.checkout.sessions.create(params=session_params(**overrides))
    assert emulator.complete(session.id).status == 200
    return session


def test_creating_an_endpoint_returns_its_signing_secret_once(
    emulator: Emulator, receiver: WebhookReceiver
) -> None:
    endpoint = register(emulator, receiver)

    listed = emulator.client().v1.webhook_endpoints.list()

    assert endpoint.object == "webhook_endpoint"
    assert endpoint.id.startswith("we_")
    assert endpoint.secret.startswith("whsec_")
    assert endpoint.enabled_events == ["*"]
    assert (endpoint.url, endpoint.status) == (receiver.url, "enabled")
    assert [e.id for e in listed.data] == [endpoint.id]
    assert "secret" not in listed.data[0]


def test_delivered_events_verify_with_the_endpoint_secret_only(
    emulator: Emulator, receiver: WebhookReceiver
) -> None:
    endpoint = register(emulator, receiver)
    session = pay(emulator)

    hook = receiver.wait_for("checkout.session.completed")[0]

    header = hook.headers["Stripe-Signature"]
    assert " " not in header
    assert header.startswith("t=") and ",v1=" in header
    event = stripe.Webhook.construct_event(hook.body, header, endpoint.secret)
    assert event.type == "checkout.session.completed"
    assert isinstance(event.data.object, stripe.checkout.Session)
    assert event.data.object.id == session.id
    assert event.data.object.payment_status == "paid"
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(hook.body, header, "whsec_not_the_secret")
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(hook.body + b" ", header, endpoint.secret)
    assert hook.headers["Content-Type"].startswith("application/json")
    assert hook.path == "/webhooks/stripe/demo"


def test_events_have_stripes_fields(emulator: Emulator, receiver: WebhookReceiver) -> None:
    register(emulator, receiver)
    client = emulator.client()
    session = client.v1.checkout.sessions.create(params=session_params())
    client.v1.checkout.sessions.expire(session.id, options={"idempotency_key": "expire-1"})

    event = receiver.wait_for("checkout.session.expired")[0].event

    assert event["id"].startswith("evt_")
    assert event["object"] == "event"
    assert event["api_version"] == stripe.api_version
    assert isinstance(event["created"], int)
    assert event["livemode"] is False
    assert event["pending_webhooks"] >= 1
    assert event["request"]["id"].startswith("req_")
    assert event["request"]["idempotency_key"] == "expire-1"
    assert event["data"]["object"]["id"] == session.id
    assert event["data"]["object"]["status"] == "expired"


def test_a_paid_session_emits_its_payment_events(
    emulator: Emulator, receiver: WebhookReceiver
) -> None:
    register(emulator, receiver)

    pay(emulator)

    receiver.wait_for("checkout.session.completed")
    types = {e["type"] for e in receiver.events()}
    assert {"payment_intent.succeeded", "charge.succeeded", "checkout.session.completed"} <= types
    completed = receiver.events("checkout.session.completed")[0]
    assert completed["request"] == {"id": None, "idempotency_key": None}


def test_capture_and_refund_emit_their_events(
    emulator: Emulator, receiver: WebhookReceiver
) -> None:
    register(emulator, receiver)
    client = emulator.client()
    session = pay(emulator, payment_intent_data={"capture_method": "manual"})
    intent_id = client.v1.checkout.sessions.retrieve(session.id).payment_intent
    receiver.wait_for("payment_intent.amount_capturable_updated")

    client.v1.payment_intents.capture(intent_id)
    client.v1.refunds.create(params={"payment_intent": intent_id, "amount": 500})

    receiver.wait_for("refund.created")
    refunded = receiver.wait_for("charge.refunded")[0].event["data"]["object"]
    assert refunded["object"] == "charge"
    assert refunded["amount_refunded"] == 500
    assert receiver.events("charge.captured")[0]["data"]["object"]["captured"] is True
    succeeded = receiver.events("payment_intent.succeeded")[0]["data"]["object"]
    assert succeeded["amount_received"] == 2999


def test_endpoints_get_only_the_events_they_enabled(
    emulator: Emulator, receiver: WebhookReceiver
) -> None:
    register(emulator, receiver, ["checkout.session.expired"])
    client = emulator.client()
    pay(emulator)
    session = client.v1.checkout.sessions.create(params=session_params())
    client.v1.checkout.sessions.expire(session.id)

    receiver.wait_for("checkout.session.expired")

    assert wait_for(lambda: emulator.state()["webhooks"]["pending"] == 0)
    assert {e["type"] for e in receiver.events()} == {"checkout.session.expired"}


def test_duplicate_mode_delivers_the_same_event_n_times(
    emulator: Emulator, receiver: WebhookReceiver
) -> None:
    register(emulator, receiver, ["checkout.session.completed"])
    emulator.webhook_mode(duplicate=3, shuffle=True, delay_ms=[0, 20])

    pay(emulator)

    hooks = receiver.wait_for("checkout.session.completed", count=3)
    assert len({hook.event["id"] for hook in hooks}) == 1
    assert wait_for(lambda: emulator.state()["webhooks"]["delivered"] == 3)


def test_a_failing_receiver_gets_the_event_again_later(
    emulator: Emulator, receiver: WebhookReceiver
) -> None:
    endpoint = register(emulator, receiver, ["checkout.session.completed"])
    receiver.fail_next(2)

    pay(emulator)

    hooks = receiver.wait_for("checkout.session.completed", count=3)
    assert len({hook.event["id"] for hook in hooks}) == 1
    stripe.Webhook.construct_event(hooks[-1].body, hooks[-1].headers["Stripe-Signature"],
                                   endpoint.secret)  # fmt: skip
    wait_for(lambda: emulator.state()["webhooks"]["delivered"] == 1)
    assert emulator.state()["webhooks"] == {
        "delivered": 1,
        "attempts": 3,
        "failed_attempts": 2,
        "pending": 0,
    }
    log = emulator.deliveries()
    assert [(d["attempt"], d["status"]) for d in log] == [(1, 500), (2, 500), (3, 200)]
    assert all(d["url"] == receiver.url and d["type"] == "checkout.session.completed" for d in log)


def test_pending_webhooks_stay_positive_until_delivery_gives_up(
    emulator: Emulator, receiver: WebhookReceiver
) -> None:
    register(emulator, receiver, ["checkout.session.completed"])
    receiver.fail_next(100)
    pay(emulator)
    client = emulator.client()

    receiver.wait_for("checkout.session.completed")
    event = client.v1.events.list(params={"type": "checkout.session.completed"}).data[0]
    assert event.pending_webhooks == 1
    assert all(e["pending_webhooks"] == 1 for e in receiver.events())

    attempts = len(RETRY_DELAYS) + 1
    receiver.wait_for("checkout.session.completed", count=attempts)
    wait_for(lambda: client.v1.events.retrieve(event.id).pending_webhooks == 0)
    time.sleep(RETRY_DELAYS[-1] + 0.1)
    assert len(receiver.hooks()) == attempts
    assert emulator.state()["webhooks"]["failed_attempts"] == attempts


def test_an_unreachable_endpoint_is_retried_and_logged(emulator: Emulator) -> None:
    emulator.client().v1.webhook_endpoints.create(
        params={"url": "http://127.0.0.1:9/hooks", "enabled_events": ["checkout.session.completed"]}
    )

    pay(emulator)

    log = wait_for(lambda: len(emulator.deliveries()) >= 2 and emulator.deliveries())
    assert log[0]["status"] is None and log[0]["error"]
    assert [d["attempt"] for d in log[:2]] == [1, 2]


def test_signatures_use_wall_clock_time_even_after_the_clock_moves(
    emulator: Emulator, receiver: WebhookReceiver
) -> None:
    endpoint = register(emulator, receiver, ["checkout.session.expired"])
    emulator.client().v1.checkout.sessions.create(params=session_params())

    now = emulator.advance_clock(25 * 3600)

    hook = receiver.wait_for("checkout.session.expired")[0]
    timestamp = int(hook.headers["Stripe-Signature"].split(",")[0][2:])
    assert abs(timestamp - time.time()) < 60
    assert hook.event["created"] == now
    stripe.Webhook.construct_event(hook.body, hook.headers["Stripe-Signature"], endpoint.secret)


def test_events_can_be_listed_by_type_and_retrieved(emulator: Emulator) -> None:
    client = emulator.client()
    pay(emulator)
    pay(emulator)

    completed = client.v1.events.list(params={"type": "checkout.session.completed", "limit": 1})
    charges = client.v1.events.list(params={"type": "charge.*"})
    event = client.v1.events.retrieve(completed.data[0].id)

    assert len(completed.data) == 1 and completed.has_more is True
    assert {e.type for e in charges.data} == {"charge.succeeded"}
    assert event.type == "checkout.session.completed"
    assert isinstance(event.data.object, stripe.checkout.Session)


def test_reset_drops_queued_deliveries(emulator: Emulator, receiver: WebhookReceiver) -> None:
    register(emulator, receiver, ["checkout.session.completed"])
    # Long enough that a loaded machine still resets before the delivery falls due.
    emulator.webhook_mode(delay_ms=[2000, 2000])
    pay(emulator)

    emulator.reset()

    time.sleep(2.3)  # past the delivery's due time: nothing may arrive
    assert receiver.hooks() == []
    assert emulator.state() == {
        "accounts": {},
        "webhooks": {"delivered": 0, "attempts": 0, "failed_attempts": 0, "pending": 0},
    }
    assert emulator.control("GET", "/webhooks/mode").json() == {
        "duplicate": 1,
        "shuffle": False,
        "delay_ms": [0, 0],
    }


def test_deleted_endpoints_receive_nothing_more(
    emulator: Emulator, receiver: WebhookReceiver
) -> None:
    endpoint = register(emulator, receiver, ["checkout.session.completed"])
    client = emulator.client()

    deleted = client.v1.webhook_endpoints.delete(endpoint.id)
    pay(emulator)

    assert deleted.deleted is True
    time.sleep(0.2)
    assert receiver.hooks() == []

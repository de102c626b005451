"""Webhooks: a paid session becomes exactly one order, whatever Stripe's delivery does."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
import stripe
from support import (
    CANARY_CUSTOMER,
    api_checkout,
    db,
    pay,
    session_event,
    settle,
    signed_post,
    webhook_mode,
)

from devstack.processes import wait_for
from devstack.services import Services
from kassa.bootstrap import Container
from ops.seed import seed_shop_in
from schemas.records import InventoryLevel
from stripe_emulator.server import EmulatorServer

DEMO_KEY = "sk_test_kassa_demo"


def orders(container: Container) -> int:
    return int(db(container, "SELECT count(*) FROM orders"))


def test_paid_session_becomes_one_order(
    shop_secret: str, live_server: str, container: Container, emulator: EmulatorServer
) -> None:
    co = api_checkout(live_server)
    pay(emulator.url, co["session_id"])
    wait_for(lambda: orders(container) == 1)
    assert db(container, "SELECT status FROM orders") == "paid"
    assert db(container, "SELECT customer_email FROM orders") == CANARY_CUSTOMER["email"]
    assert db(container, "SELECT state FROM checkouts") == "fulfilled"
    assert db(container, "SELECT on_hand FROM inventory_levels WHERE sku = 'MUG-WHITE'") == 48
    assert db(container, "SELECT reserved FROM inventory_levels WHERE sku = 'MUG-WHITE'") == 0
    kinds = db(container, "SELECT array_agg(kind ORDER BY kind) FROM outbox")
    assert kinds == [
        "email.order_confirmation",
        "stock_mirror.decrement",
        "stripe.customer_upsert",
        "stripe.metadata_sync",
    ]


def test_duplicate_and_concurrent_deliveries_make_one_order(
    shop_secret: str, live_server: str, container: Container, emulator: EmulatorServer
) -> None:
    webhook_mode(emulator.url, duplicate=5, shuffle=True)
    co = api_checkout(live_server)
    pay(emulator.url, co["session_id"])
    wait_for(  # all five copies delivered and answered 200
        lambda: (
            [
                d["status"]
                for d in deliveries(emulator)
                if d["type"] == "checkout.session.completed"
            ].count(200)
            == 5
        )
    )
    assert orders(container) == 1
    assert db(container, "SELECT count(*) FROM inventory_holds WHERE state = 'committed'") == 1
    assert db(container, "SELECT count(*) FROM outbox WHERE kind = 'stock_mirror.decrement'") == 1
    # The same event again, an hour later, by hand (signed like Stripe):
    session = stripe.StripeClient(
        DEMO_KEY, base_addresses={"api": emulator.url}
    ).v1.checkout.sessions.retrieve(co["session_id"])
    late = signed_post(
        live_server, shop_secret, session_event(session.to_dict(), event_id="evt_late_copy")
    )
    assert late.status_code == 200 and late.json()["result"] == "existing"
    with ThreadPoolExecutor(5) as pool:
        answers = list(
            pool.map(
                lambda _: signed_post(
                    live_server, shop_secret, session_event(session.to_dict(), event_id="evt_burst")
                ),
                range(5),
            )
        )
    assert sorted(a.json()["result"] for a in answers) == ["duplicate"] * 4 + ["existing"]
    assert orders(container) == 1


def test_bad_signature_is_rejected(
    shop_secret: str, live_server: str, container: Container
) -> None:
    event = session_event(
        {
            "id": "cs_x",
            "object": "checkout.session",
            "payment_status": "paid",
            "metadata": {"shop_id": "demo", "checkout_id": "x"},
        }
    )
    assert signed_post(live_server, "whsec_wrong", event).status_code == 400
    no_header = requests.post(
        f"{live_server}/webhooks/stripe/demo", data=json.dumps(event), timeout=5
    )
    assert no_header.status_code == 400 and no_header.json()["error"]["code"] == "webhook_rejected"
    assert (
        requests.post(f"{live_server}/webhooks/stripe/nope", data="{}", timeout=5).status_code
        == 404
    )
    assert db(container, "SELECT count(*) FROM stripe_events") == 0


@pytest.mark.parametrize(("skew", "status"), [(600, 400), (-600, 400), (240, 200), (-240, 200)])
def test_signed_timestamp_must_be_near_now_on_both_sides(
    shop_secret: str, live_server: str, container: Container, skew: int, status: int
) -> None:
    """The SDK refuses only old signatures; one dated ten minutes ahead is refused too (it
    would stay replayable for as long as it is ahead). Four minutes either way is clock skew."""
    event = session_event(
        {
            "id": "cs_x",
            "object": "checkout.session",
            "payment_status": "paid",
            "metadata": {},  # not Kassa's session: accepted and ignored once verified
        }
    )
    resp = signed_post(live_server, shop_secret, event, signed_at=int(time.time()) + skew)
    assert resp.status_code == status, resp.text
    if status == 400:
        error = resp.json()["error"]
        assert error["code"] == "webhook_timestamp_out_of_tolerance"
        assert error["details"]["tolerance_seconds"] == 300
        assert abs(error["details"]["skew_seconds"] - skew) < 60
    else:
        assert resp.json() == {"received": True, "result": "ignored"}
    assert db(container, "SELECT count(*) FROM stripe_events") == 0


def test_event_for_another_shop_is_rejected_and_audited(
    shop_secret: str, live_server: str, container: Container
) -> None:
    event = session_event(
        {
            "id": "cs_b",
            "object": "checkout.session",
            "payment_status": "paid",
            "amount_total": 100,
            "currency": "jpy",
            "metadata": {"shop_id": "tokyo", "checkout_id": "00000000-0000-0000-0000-000000000000"},
        }
    )
    resp = signed_post(live_server, shop_secret, event)
    assert resp.status_code == 400
    assert (
        db(container, "SELECT kind FROM audit_events WHERE shop_id = 'demo'") == "tenancy_violation"
    )
    assert orders(container) == 0


def test_amount_mismatch_refunds_instead_of_fulfilling(
    shop_secret: str, live_server: str, container: Container, emulator: EmulatorServer
) -> None:
    co = api_checkout(live_server)
    session = {
        "id": co["session_id"],
        "object": "checkout.session",
        "payment_status": "paid",
        "status": "complete",
        "amount_total": co["amount_total"] - 1000,
        "currency": "usd",
        "payment_intent": "pi_forged",
        "metadata": {"shop_id": "demo", "checkout_id": co["checkout_id"]},
    }
    resp = signed_post(live_server, shop_secret, session_event(session))
    assert resp.status_code == 200 and resp.json()["result"] == "pricing_mismatch"
    assert orders(container) == 0
    assert db(container, "SELECT kind FROM audit_events") == "pricing_mismatch_detected"
    refund = json.loads(
        json.dumps(db(container, "SELECT payload FROM outbox WHERE kind = 'stripe.refund'"))
    )
    assert refund["amount"] == co["amount_total"] - 1000 and refund["reason"] == "pricing_mismatch"
    assert db(container, "SELECT reserved FROM inventory_levels WHERE sku = 'MUG-WHITE'") == 0


def test_unpaid_completion_waits_for_async_success(
    shop_secret: str, live_server: str, container: Container, emulator: EmulatorServer
) -> None:
    co = api_checkout(live_server)
    pay(emulator.url, co["session_id"], outcome="async_pending")
    wait_for(lambda: db(container, "SELECT count(*) FROM stripe_events") == 1)
    assert orders(container) == 0
    assert db(container, "SELECT reserved FROM inventory_levels WHERE sku = 'MUG-WHITE'") == 2
    settle(emulator.url, co["session_id"], "succeeded")
    wait_for(lambda: orders(container) == 1)


def test_async_failure_and_expiry_release_the_hold(
    shop_secret: str, live_server: str, container: Container, emulator: EmulatorServer
) -> None:
    failed = api_checkout(live_server, key="f1")
    pay(emulator.url, failed["session_id"], outcome="async_pending")
    settle(emulator.url, failed["session_id"], "failed")
    wait_for(
        lambda: (
            db(container, "SELECT state FROM checkouts WHERE id = %s", failed["checkout_id"])
            == "failed"
        )
    )
    expired = api_checkout(live_server, key="e1")
    requests.post(
        f"{emulator.url}/_emulator/clock/advance", json={"seconds": 2 * 3600}, timeout=5
    ).raise_for_status()
    wait_for(
        lambda: (
            db(container, "SELECT state FROM checkouts WHERE id = %s", expired["checkout_id"])
            == "expired"
        )
    )
    assert db(container, "SELECT reserved FROM inventory_levels WHERE sku = 'MUG-WHITE'") == 0
    assert orders(container) == 0


def test_sold_out_between_session_and_payment(
    shop_secret: str, live_server: str, container: Container, emulator: EmulatorServer
) -> None:
    with container.uow() as uow:
        uow.inventory.set_level(
            "demo",
            InventoryLevel(sku="POSTER-A2", location="store", priority=2, on_hand=1, reserved=0),
        )
    co = api_checkout(live_server, sku="POSTER-A2", quantity=1, key="p1")
    with container.uow() as uow:  # the hold lapses (reaped) and someone else buys the last one
        uow.inventory.finish_holds("demo", __import__("uuid").UUID(co["checkout_id"]), "expired")
        uow.inventory.set_level(
            "demo",
            InventoryLevel(sku="POSTER-A2", location="store", priority=2, on_hand=0, reserved=0),
        )
    pay(emulator.url, co["session_id"])
    wait_for(lambda: orders(container) == 1)
    assert db(container, "SELECT status FROM orders") == "stock_conflict"
    assert db(container, "SELECT state FROM checkouts") == "stock_conflict"
    assert db(container, "SELECT count(*) FROM outbox WHERE kind = 'stripe.refund'") == 1
    assert db(container, "SELECT on_hand FROM inventory_levels WHERE sku = 'POSTER-A2'") == 0


def deliveries(emulator: EmulatorServer) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = requests.get(
        f"{emulator.url}/_emulator/webhooks/deliveries", timeout=5
    ).json()
    return found


def test_postgres_down_gives_5xx_and_the_retry_fulfils(
    shop_secret: str,
    live_server: str,
    container: Container,
    emulator: EmulatorServer,
    services: Services,
) -> None:
    co = api_checkout(live_server)
    assert services.postgres is not None, "needs the embedded Postgres"
    services.postgres.stop()
    try:
        assert requests.get(f"{live_server}/readyz", timeout=30).status_code == 503
        pay(emulator.url, co["session_id"])  # the first delivery hits the outage
        wait_for(
            lambda: [d for d in deliveries(emulator) if d["type"] == "checkout.session.completed"],
            timeout=60,
        )
    finally:
        services.postgres.start()
    wait_for(lambda: orders(container) == 1, timeout=30)
    statuses = [
        d["status"] for d in deliveries(emulator) if d["type"] == "checkout.session.completed"
    ]
    assert statuses[0] is None or statuses[0] >= 500  # the outage: a 5xx or a timeout, never a 2xx
    assert 200 in statuses


def test_status_endpoint_fulfils_when_the_webhook_is_lost(
    container: Container, app: Any, emulator: EmulatorServer
) -> None:
    with container.uow() as uow:
        seed_shop_in(uow, "demo", container.settings, stripe_api_key=DEMO_KEY)
    client = app.test_client()  # no webhook endpoint registered: the event goes nowhere
    resp = client.post(
        "/api/checkout",
        json={"lines": [{"sku": "MUG-WHITE", "quantity": 1}]},
        headers={"X-Shop-Id": "demo", "Idempotency-Key": "lost"},
    )
    co = resp.get_json()
    pay(emulator.url, co["session_id"])
    status = client.get(
        f"/api/checkout/{co['checkout_id']}/status", headers={"X-Shop-Id": "demo"}
    ).get_json()
    assert status["state"] == "fulfilled" and status["order"]["reference"].startswith("K-")
    assert "canary" not in json.dumps(status).lower()
    assert orders(container) == 1


def test_delayed_capture_shop_authorizes_then_schedules_capture(
    live_server: str, container: Container, emulator: EmulatorServer
) -> None:
    with container.uow() as uow:
        seed_shop_in(
            uow, "demo", container.settings, stripe_api_key=DEMO_KEY, capture_mode="delayed"
        )
    secret = container.payments.register_webhook(DEMO_KEY, f"{live_server}/webhooks/stripe/demo")
    with container.uow() as uow:
        uow.shops.set_webhook_secret("demo", secret)
    co = api_checkout(live_server)
    client = stripe.StripeClient(DEMO_KEY, base_addresses={"api": emulator.url})
    pay(emulator.url, co["session_id"])
    wait_for(lambda: orders(container) == 1)
    session = client.v1.checkout.sessions.retrieve(co["session_id"])
    assert client.v1.payment_intents.retrieve(session.payment_intent).status == "requires_capture"
    assert db(container, "SELECT status FROM orders") == "authorized"
    assert db(container, "SELECT status FROM payments") == "requires_capture"
    due_in = db(
        container,
        "SELECT extract(epoch FROM available_at - now())::int FROM outbox WHERE kind = 'stripe.capture'",
    )
    assert 3500 <= due_in <= 3600  # due when the shop's 60-minute window closes


def test_a_rotated_webhook_secret_applies_at_once_despite_the_shop_cache(
    shop_secret: str, live_server: str, container: Container
) -> None:
    event = {
        "id": "evt_rotation",
        "object": "event",
        "type": "customer.created",
        "created": int(time.time()),
        "data": {"object": {"id": "cus_1", "object": "customer"}},
    }
    assert signed_post(live_server, shop_secret, event).status_code == 200  # shop now cached
    assert signed_post(live_server, "whsec_rotated", event).status_code == 400

    with container.uow() as uow:
        uow.shops.set_webhook_secret("demo", "whsec_rotated")

    assert signed_post(live_server, "whsec_rotated", event).status_code == 200
    assert signed_post(live_server, shop_secret, event).status_code == 400

"""A payment that settles after its hold lapsed (a bank debit that takes days, a reaper that
ran meanwhile) still ends as exactly one order, or one stock-conflict order and one refund,
and never as a webhook that fails until Stripe gives up."""

from __future__ import annotations

from typing import Any

import requests
import stripe
from prometheus_client import REGISTRY
from support import (
    api_checkout,
    db,
    lapse,
    pay,
    session_event,
    settle,
    signed_post,
)

from devstack.processes import wait_for
from kassa.bootstrap import Container
from schemas.records import InventoryLevel
from stripe_emulator.server import EmulatorServer
from workers.jobs import perform_row


def pay_later(emulator: EmulatorServer, container: Container, co: dict[str, Any]) -> None:
    pay(emulator.url, co["session_id"], outcome="async_pending")
    wait_for(lambda: db(container, "SELECT count(*) FROM stripe_events") == 1)


def webhook_statuses(emulator: EmulatorServer) -> set[int]:
    deliveries = requests.get(f"{emulator.url}/_emulator/webhooks/deliveries", timeout=5).json()
    return {d["status"] for d in deliveries if d.get("status") is not None}


def test_paid_after_the_reaper_with_stock_left_takes_it_again(
    shop_secret: str, live_server: str, container: Container, emulator: EmulatorServer
) -> None:
    co = api_checkout(live_server, "MUG-WHITE", 2, key="late-1")
    pay_later(emulator, container, co)
    lapse(container, co["checkout_id"])
    retry = api_checkout(live_server, "MUG-WHITE", 2, key="late-1")  # the intent was freed
    assert retry["checkout_id"] != co["checkout_id"]

    settle(emulator.url, co["session_id"], "succeeded")
    wait_for(lambda: db(container, "SELECT count(*) FROM orders") == 1)
    assert db(container, "SELECT status FROM orders") == "paid"
    assert db(container, "SELECT state FROM checkouts WHERE id = %s", co["checkout_id"]) == (
        "fulfilled"
    )
    assert db(container, "SELECT on_hand FROM inventory_levels WHERE sku = 'MUG-WHITE'") == 48
    # The retry's hold is still there; the lapsed hold stays as history beside the new one.
    assert db(container, "SELECT reserved FROM inventory_levels WHERE sku = 'MUG-WHITE'") == 2
    holds = db(
        container,
        "SELECT array_agg(state ORDER BY state) FROM inventory_holds WHERE checkout_id = %s",
        co["checkout_id"],
    )
    assert holds == ["committed", "expired"]
    assert db(container, "SELECT count(*) FROM outbox WHERE kind = 'stripe.refund'") == 0
    assert webhook_statuses(emulator) == {200}


def test_paid_after_the_reaper_with_the_stock_gone_is_refunded_once(
    shop_secret: str, live_server: str, container: Container, emulator: EmulatorServer
) -> None:
    with container.uow() as uow:
        uow.inventory.set_level(
            "demo",
            InventoryLevel(sku="POSTER-A2", location="store", priority=2, on_hand=1, reserved=0),
        )
    co = api_checkout(live_server, "POSTER-A2", 1, key="late-2")
    pay_later(emulator, container, co)
    lapse(container, co["checkout_id"])
    other = api_checkout(live_server, "POSTER-A2", 1, key="late-2-someone-else")
    pay(emulator.url, other["session_id"])  # someone else buys the last one
    wait_for(lambda: db(container, "SELECT count(*) FROM orders") == 1)

    settle(emulator.url, co["session_id"], "succeeded")
    wait_for(lambda: db(container, "SELECT count(*) FROM orders") == 2)
    late = "SELECT {} FROM orders WHERE checkout_id = %s"
    assert db(container, late.format("status"), co["checkout_id"]) == "stock_conflict"
    assert db(container, "SELECT on_hand FROM inventory_levels WHERE sku = 'POSTER-A2'") == 0
    assert db(container, "SELECT count(*) FROM outbox WHERE kind = 'stripe.refund'") == 1
    refund_row = db(container, "SELECT id FROM outbox WHERE kind = 'stripe.refund'")
    assert perform_row(container, refund_row) == "done"
    stripe_api = stripe.StripeClient("sk_test_kassa_demo", base_addresses={"api": emulator.url})
    session = stripe_api.v1.checkout.sessions.retrieve(co["session_id"])
    refunds = stripe_api.v1.refunds.list(params={"payment_intent": session.payment_intent})
    assert [(r.amount, r.status) for r in refunds.data] == [(co["amount_total"], "succeeded")]
    assert webhook_statuses(emulator) == {200}


def test_the_status_page_fulfils_an_expired_but_paid_checkout(
    container: Container, live_server: str, emulator: EmulatorServer
) -> None:
    """No webhook endpoint at all: the customer's own status poll finds the late payment."""
    from ops.seed import seed_shop_in

    with container.uow() as uow:
        seed_shop_in(uow, "demo", container.settings, stripe_api_key="sk_test_kassa_demo")
    browser = requests.Session()
    resp = browser.post(
        f"{live_server}/api/checkout",
        json={"lines": [{"sku": "MUG-WHITE", "quantity": 1}]},
        headers={"X-Shop-Id": "demo", "Idempotency-Key": "late-3"},
        timeout=30,
    )
    assert resp.status_code == 201, resp.text
    co = resp.json()
    pay(emulator.url, co["session_id"], outcome="async_pending")
    lapse(container, co["checkout_id"])
    status = browser.get(
        f"{live_server}/api/checkout/{co['checkout_id']}/status",
        headers={"X-Shop-Id": "demo"},
        timeout=30,
    ).json()
    assert status["state"] == "expired" and status["order"] is None

    settle(emulator.url, co["session_id"], "succeeded")
    status = browser.get(
        f"{live_server}/api/checkout/{co['checkout_id']}/status",
        headers={"X-Shop-Id": "demo"},
        timeout=30,
    ).json()
    assert status["state"] == "fulfilled"
    assert status["order"]["status"] == "paid"
    assert db(container, "SELECT count(*) FROM orders") == 1


def test_a_deterministic_fulfilment_error_ends_in_one_refund_not_a_500_loop(
    shop_secret: str, live_server: str, container: Container, emulator: EmulatorServer
) -> None:
    """A snapshot the database refuses to turn into order lines (a bug, corrupt data) fails
    the same way on every retry: the payment is settled as a refund, audited and counted."""

    def failures() -> float:
        labels = {"error": "CheckViolation"}
        return REGISTRY.get_sample_value("kassa_fulfilment_failures_total", labels) or 0.0

    before = failures()
    co = api_checkout(live_server, "MUG-WHITE", 2, key="broken-1")
    with container.uow() as uow:  # corrupt the snapshot: a line total that is not price x qty
        uow.conn.execute(
            "UPDATE checkouts SET lines = jsonb_set(lines, '{0,line_total}', '1') WHERE id = %s",
            (co["checkout_id"],),
        )
    pay(emulator.url, co["session_id"])
    wait_for(lambda: db(container, "SELECT state FROM checkouts") == "refunded")
    assert db(container, "SELECT count(*) FROM orders") == 0
    assert db(container, "SELECT count(*) FROM audit_events WHERE kind = 'fulfilment_failed'") == 1
    assert db(container, "SELECT reserved FROM inventory_levels WHERE sku = 'MUG-WHITE'") == 0
    assert db(container, "SELECT payload->>'amount' FROM outbox WHERE kind = 'stripe.refund'") == (
        str(co["amount_total"])
    )
    assert failures() == before + 1
    assert webhook_statuses(emulator) == {200}

    # The same session's event delivered again under a new id: settled already, nothing new.
    session = stripe.StripeClient(
        "sk_test_kassa_demo", base_addresses={"api": emulator.url}
    ).v1.checkout.sessions.retrieve(co["session_id"])
    resp = signed_post(
        live_server, shop_secret, session_event(session.to_dict(), event_id="evt_again")
    )
    assert resp.status_code == 200 and resp.json()["result"] == "refunded"
    assert db(container, "SELECT count(*) FROM outbox WHERE kind = 'stripe.refund'") == 1

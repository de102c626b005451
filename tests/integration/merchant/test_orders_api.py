"""Orders for the merchant over ``/admin``: list and page, read with history, refund (by
line, by amount, never beyond what was captured, even concurrently), ship, cancel; the event
feed and webhook endpoints. Orders come from real purchases (emulator, webhooks)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests
import stripe
from support import db

from kassa.bootstrap import Container
from stripe_emulator.server import EmulatorServer
from workers.jobs import perform_row

Headers = dict[str, str]


def run_refunds(container: Container) -> list[int]:
    ids = [
        int(r[0])
        for r in db_rows(
            container, "SELECT id FROM outbox WHERE kind = 'stripe.refund' AND state = 'pending'"
        )
    ]
    for row_id in ids:
        assert perform_row(container, row_id) == "done"
    return ids


def db_rows(container: Container, query: str) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(container.settings.database_url) as conn:
        return conn.execute(query).fetchall()


def test_list_filter_and_page(
    client: Any, key_for: Callable[..., Headers], bought: Callable[..., dict[str, Any]]
) -> None:
    refs = [bought(key=f"k{i}", quantity=1)["reference"] for i in range(3)]
    headers = key_for("demo")
    first = client.get("/admin/orders?limit=2", headers=headers).get_json()
    assert [o["reference"] for o in first["orders"]] == refs[::-1][:2]
    second = client.get(f"/admin/orders?limit=2&cursor={first['next_cursor']}", headers=headers)
    assert [o["reference"] for o in second.get_json()["orders"]] == [refs[0]]
    assert second.get_json()["next_cursor"] is None
    one = client.get(f"/admin/orders?reference={refs[1]}", headers=headers).get_json()
    assert [o["reference"] for o in one["orders"]] == [refs[1]]
    assert client.get("/admin/orders?status=cancelled", headers=headers).get_json()["orders"] == []
    assert client.get("/admin/orders?cursor=nonsense", headers=headers).status_code == 422
    assert client.get("/admin/orders", headers=key_for("tokyo")).get_json()["orders"] == []
    assert client.get(f"/admin/orders/{refs[0]}", headers=key_for("tokyo")).status_code == 404


def test_refund_a_line_then_never_beyond_what_was_captured(
    client: Any,
    container: Container,
    emulator: EmulatorServer,
    key_for: Callable[..., Headers],
    bought: Callable[..., dict[str, Any]],
) -> None:
    order = bought(quantity=2)
    headers = key_for("demo")
    detail = client.get(f"/admin/orders/{order['reference']}", headers=headers).get_json()
    [line] = detail["lines"]
    assert detail["refundable"] == order["amount_total"]
    resp = client.post(
        f"/admin/orders/{order['reference']}/refunds",
        json={"lines": [{"line_id": line["id"], "quantity": 1}]},
        headers={**headers, "Idempotency-Key": "r1"},
    )
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json()["amount"] == line["unit_amount"]
    replay = client.post(
        f"/admin/orders/{order['reference']}/refunds",
        json={"lines": [{"line_id": line["id"], "quantity": 1}]},
        headers={**headers, "Idempotency-Key": "r1"},
    )
    assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
    too_much = client.post(
        f"/admin/orders/{order['reference']}/refunds",
        json={"amount": order["amount_total"]},
        headers=headers,
    )
    assert too_much.status_code == 409
    assert too_much.get_json()["error"]["code"] == "refund_exceeds_captured"
    run_refunds(container)
    stripe_api = stripe.StripeClient("sk_test_kassa_demo", base_addresses={"api": emulator.url})
    intent = stripe_api.v1.checkout.sessions.retrieve(order["session_id"]).payment_intent
    refunds = stripe_api.v1.refunds.list(params={"payment_intent": str(intent)}).data
    assert [r.amount for r in refunds] == [line["unit_amount"]]
    after = client.get(f"/admin/orders/{order['reference']}", headers=headers).get_json()
    assert after["payment"]["refunded_amount"] == line["unit_amount"]
    assert [e["kind"] for e in after["events"]] == ["refund_requested"]
    assert db(container, "SELECT actor FROM audit_events WHERE kind = 'merchant.order.refund'")


def test_concurrent_refunds_cannot_exceed_the_capture(
    live_server: str,
    container: Container,
    key_for: Callable[..., Headers],
    bought: Callable[..., dict[str, Any]],
) -> None:
    order = bought(quantity=2)
    headers = key_for("demo")
    part = order["amount_total"] // 3 + 1  # only two of these fit

    def refund(_: int) -> int:
        return requests.post(
            f"{live_server}/admin/orders/{order['reference']}/refunds",
            json={"amount": part},
            headers=headers,
            timeout=30,
        ).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = sorted(pool.map(refund, range(8)))
    assert statuses == [201, 201] + [409] * 6
    asked = db(
        container,
        "SELECT sum((payload->>'amount')::bigint) FROM outbox WHERE kind = 'stripe.refund'",
    )
    assert asked == 2 * part <= order["amount_total"]


def test_ship_then_no_cancel_and_the_customer_is_told(
    client: Any,
    container: Container,
    key_for: Callable[..., Headers],
    bought: Callable[..., dict[str, Any]],
) -> None:
    order = bought(quantity=1)
    headers = key_for("demo")
    resp = client.post(
        f"/admin/orders/{order['reference']}/fulfilment",
        json={"tracking_reference": "1Z999AA10123456784"},
        headers=headers,
    )
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["status"] == "fulfilled" and body["tracking_reference"] == "1Z999AA10123456784"
    assert body["modification_allowed"] is False
    assert (
        db(
            container,
            "SELECT count(*) FROM outbox WHERE kind = 'email.order_change' AND payload->>'change' = 'shipped'",
        )
        == 1
    )
    assert db(container, "SELECT count(*) FROM merchant_events WHERE type = 'order.fulfilled'") == 1
    again = client.post(f"/admin/orders/{order['reference']}/cancel", headers=headers)
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "order_not_changeable"
    bad = client.post(
        f"/admin/orders/{order['reference']}/fulfilment",
        json={"tracking_reference": ""},
        headers=headers,
    )
    assert bad.status_code == 422


def test_cancel_gives_stock_and_money_back(
    client: Any,
    container: Container,
    key_for: Callable[..., Headers],
    bought: Callable[..., dict[str, Any]],
) -> None:
    order = bought(quantity=2)
    before = db(container, "SELECT on_hand FROM inventory_levels WHERE sku = 'MUG-WHITE'")
    headers = {**key_for("demo"), "Idempotency-Key": "cancel-1"}
    resp = client.post(f"/admin/orders/{order['reference']}/cancel", headers=headers)
    assert resp.status_code == 200 and resp.get_json()["status"] == "cancelled"
    again = client.post(f"/admin/orders/{order['reference']}/cancel", headers=headers)
    assert again.headers["Idempotent-Replayed"] == "true" and again.get_json() == resp.get_json()
    assert db(container, "SELECT count(*) FROM merchant_events WHERE type = 'order.cancelled'") == 1
    audit = db(container, "SELECT actor FROM audit_events WHERE kind = 'merchant.order.cancel'")
    assert audit == f"api_key:{headers['Authorization'].split('_')[2]}"
    assert (
        db(container, "SELECT on_hand FROM inventory_levels WHERE sku = 'MUG-WHITE'") == before + 2
    )
    assert db(container, "SELECT payload->>'amount' FROM outbox WHERE kind = 'stripe.refund'") == (
        str(order["amount_total"])
    )


def test_event_feed_and_webhook_endpoints(
    client: Any,
    container: Container,
    key_for: Callable[..., Headers],
    bought: Callable[..., dict[str, Any]],
) -> None:
    headers = key_for("demo")
    created = client.post(
        "/admin/webhook-endpoints",
        json={"url": "https://erp.example/hooks", "event_types": ["order.paid"]},
        headers=headers,
    )
    assert created.status_code == 201
    secret = created.get_json()["secret"]
    assert secret.startswith("kwhsec_")
    for inside in ("http://127.0.0.1:6379/", "http://169.254.169.254/latest/", "http://[::1]/"):
        refused = client.post("/admin/webhook-endpoints", json={"url": inside}, headers=headers)
        assert refused.status_code == 422, refused.get_json()
        assert refused.get_json()["error"]["details"] == {"field": "url"}
    listed = client.get("/admin/webhook-endpoints", headers=headers).get_json()
    assert [e["url"] for e in listed] == ["https://erp.example/hooks"]
    assert "secret" not in listed[0]
    assert (
        db(container, "SELECT count(*) FROM merchant_webhook_endpoints WHERE secret = %s", secret)
        == 0
    )
    assert client.get("/admin/webhook-endpoints", headers=key_for("tokyo")).get_json() == []

    order = bought(quantity=1)
    page = client.get("/admin/events?after=0", headers=headers).get_json()
    [event] = page["events"]
    assert event["type"] == "order.paid"
    assert event["data"]["object"]["reference"] == order["reference"]
    assert (
        client.get(f"/admin/events?after={event['seq']}", headers=headers).get_json()["events"]
        == []
    )
    assert client.get("/admin/events?after=0", headers=key_for("tokyo")).get_json() == {
        "events": [],
        "next_after": None,
    }
    assert client.get("/admin/events?after=x", headers=headers).status_code == 422
    assert db(container, "SELECT count(*) FROM outbox WHERE kind = 'merchant.webhook'") == 1
    endpoint_id = listed[0]["id"]
    off = client.delete(f"/admin/webhook-endpoints/{endpoint_id}", headers=headers)
    assert off.status_code == 200 and off.get_json()["active"] is False
    assert (
        client.delete(
            f"/admin/webhook-endpoints/{endpoint_id}", headers=key_for("tokyo")
        ).status_code
        == 404
    )


def test_cancelling_an_order_refunded_in_full_gives_the_stock_back_not_the_money_twice(
    client: Any,
    container: Container,
    key_for: Callable[..., Headers],
    bought: Callable[..., dict[str, Any]],
) -> None:
    order = bought(quantity=2)
    headers = key_for("demo")
    before = db(container, "SELECT on_hand FROM inventory_levels WHERE sku = 'MUG-WHITE'")
    refund = client.post(f"/admin/orders/{order['reference']}/refunds", json={}, headers=headers)
    assert refund.status_code == 201 and refund.get_json()["amount"] == order["amount_total"]

    resp = client.post(f"/admin/orders/{order['reference']}/cancel", headers=headers)
    assert resp.status_code == 200 and resp.get_json()["status"] == "cancelled"
    assert db(container, "SELECT on_hand FROM inventory_levels WHERE sku = 'MUG-WHITE'") == (
        before + 2
    )
    amounts = [
        r[0]
        for r in db_rows(
            container, "SELECT payload->>'amount' FROM outbox WHERE kind = 'stripe.refund'"
        )
    ]
    assert amounts == [str(order["amount_total"])]  # the merchant's refund, and no other

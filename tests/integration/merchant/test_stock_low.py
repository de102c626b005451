"""stock.low: sent once when a change takes a SKU's available units from above the shop's
threshold to at or below it, whether a merchant lowered stock (by hand or by import), a
shopper's checkout reserved the units, or a payment whose hold had lapsed took them; never
when the shop has no threshold."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests
from support import Storefront, api_checkout, db, lapse, pay, settle

from devstack.processes import wait_for
from kassa.bootstrap import Container
from stripe_emulator.server import EmulatorServer

Headers = dict[str, str]


@pytest.fixture
def demo(key_for: Callable[..., Headers]) -> Headers:
    return key_for("demo", "stock.low tests")


def low_events(client: Any, headers: Headers) -> list[dict[str, Any]]:
    events = client.get("/admin/events?after=0", headers=headers).get_json()["events"]
    return [e["data"]["object"] for e in events if e["type"] == "stock.low"]


def adjust(client: Any, headers: Headers, delta: int, sku: str = "MUG-WHITE") -> None:
    resp = client.post(
        f"/admin/stock/{sku}/warehouse/adjustments",
        json={"delta": delta, "reason": "count"},
        headers=headers,
    )
    assert resp.status_code == 200, resp.get_json()


def test_a_merchant_change_crossing_the_threshold_sends_stock_low_once(
    client: Any, demo: Headers, operator: Headers, container: Container
) -> None:
    endpoint = client.post(
        "/admin/webhook-endpoints",
        json={"url": "https://warehouse.example/hooks", "event_types": ["stock.low"]},
        headers=demo,
    )
    assert endpoint.status_code == 201
    adjust(client, demo, -40)  # 50 -> 10: no threshold yet, nothing sent
    assert low_events(client, demo) == []

    patched = client.patch("/admin/shops/demo", json={"low_stock_threshold": 5}, headers=operator)
    assert patched.status_code == 200 and patched.get_json()["low_stock_threshold"] == 5
    adjust(client, demo, -4)  # 10 -> 6: still above
    assert low_events(client, demo) == []
    adjust(client, demo, -1)  # 6 -> 5: at the threshold
    assert low_events(client, demo) == [
        {"object": "stock_level", "sku": "MUG-WHITE", "available": 5, "threshold": 5}
    ]
    adjust(client, demo, -2)  # already low: not again
    adjust(client, demo, 10)  # 3 -> 13: back above
    assert len(low_events(client, demo)) == 1
    adjust(client, demo, -13)  # 13 -> 0: crossed again
    assert [e["available"] for e in low_events(client, demo)] == [5, 0]
    # Each one queued a delivery to the endpoint that subscribed to stock.low.
    assert db(container, "SELECT count(*) FROM outbox WHERE kind = 'merchant.webhook'") == 2

    off = client.patch("/admin/shops/demo", json={"low_stock_threshold": None}, headers=operator)
    assert off.status_code == 200 and off.get_json()["low_stock_threshold"] is None
    adjust(client, demo, 20)
    adjust(client, demo, -20)
    assert len(low_events(client, demo)) == 2
    bad = client.patch("/admin/shops/demo", json={"low_stock_threshold": -1}, headers=operator)
    assert bad.status_code == 422


def test_a_checkout_reserving_the_units_sends_stock_low(
    client: Any, demo: Headers, operator: Headers
) -> None:
    assert (
        client.patch(
            "/admin/shops/demo", json={"low_stock_threshold": 1}, headers=operator
        ).status_code
        == 200
    )
    shopper = Storefront(client)
    shopper.add("POSTER-A2", 1)  # 3 in the store: 2 left, above the threshold
    assert shopper.checkout(key="one").status_code == 201
    assert low_events(client, demo) == []
    other = Storefront(client, "demo")
    other.set_quantity(shopper.cart().get_json()["lines"][0]["line_key"], 1)
    assert other.checkout(key="two").status_code == 201  # 2 -> 1: low
    assert low_events(client, demo) == [
        {"object": "stock_level", "sku": "POSTER-A2", "available": 1, "threshold": 1}
    ]


def test_an_import_lowering_stock_sends_stock_low(
    client: Any, demo: Headers, operator: Headers
) -> None:
    client.patch("/admin/shops/demo", json={"low_stock_threshold": 3}, headers=operator)
    products = [
        {
            "sku": sku,
            "name": sku,
            "unit_amount": 1000,
            "stock": [{"location": "warehouse", "on_hand": units}],
        }
        for sku, units in (("MUG-WHITE", 2), ("IMPORTED-1", 1))
    ]
    resp = client.post("/admin/catalog/import", json={"products": products}, headers=demo)
    assert resp.status_code == 200, resp.get_json()
    # MUG-WHITE fell from 50 to 2; IMPORTED-1 is new (it was never above the threshold).
    assert low_events(client, demo) == [
        {"object": "stock_level", "sku": "MUG-WHITE", "available": 2, "threshold": 3}
    ]


def test_a_paid_checkout_whose_hold_lapsed_takes_the_units_and_sends_stock_low(
    shop_secret: str,
    live_server: str,
    operator: Headers,
    container: Container,
    emulator: EmulatorServer,
) -> None:
    assert requests.patch(
        f"{live_server}/admin/shops/demo",
        json={"low_stock_threshold": 2},
        headers=operator,
        timeout=30,
    ).ok
    co = api_checkout(live_server, "POSTER-A2", 1, key="late")  # 3 -> 2: low
    pay(emulator.url, co["session_id"], outcome="async_pending")
    wait_for(lambda: db(container, "SELECT count(*) FROM stripe_events") == 1)
    lapse(container, co["checkout_id"])  # the hold lapses: 3 available again

    settle(emulator.url, co["session_id"], "succeeded")  # fulfilment takes the unit: 3 -> 2
    wait_for(lambda: db(container, "SELECT count(*) FROM orders") == 1)
    lows = db(
        container,
        "SELECT array_agg(data -> 'object' ->> 'available' ORDER BY seq) FROM merchant_events"
        " WHERE type = 'stock.low'",
    )
    assert lows == ["2", "2"]

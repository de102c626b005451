"""Variants, shipping options and coupons over the merchant API: every write idempotent
by Idempotency-Key and audited with the key that made it; bad input changes nothing; a
price change leaves open checkouts as they were priced."""

from __future__ import annotations

from collections.abc import Callable
from itertools import product
from typing import Any

import pytest
from integration.merchant.plan_support import PLAN_MODES, plans
from support import Storefront, db, emulator_state

from kassa.bootstrap import Container
from stripe_emulator.server import EmulatorServer

Headers = dict[str, str]
MUG = {"sku": "MUG-BLACK", "product_code": "MUG", "name": "Enamel mug", "unit_amount": 1300,
       "attributes": {"colour": "black"}}  # fmt: skip


@pytest.fixture
def demo(key_for: Callable[..., Headers]) -> Headers:
    return key_for("demo", "catalog tests")


def test_products_create_read_replace_patch(client: Any, demo: Headers) -> None:
    created = client.post("/admin/products", json=MUG, headers=demo)
    assert created.status_code == 201
    assert created.get_json() == {**MUG, "currency": "usd", "active": True}
    assert client.post("/admin/products", json=MUG, headers=demo).status_code == 409

    got = client.get("/admin/products/MUG-BLACK", headers=demo)
    assert got.status_code == 200 and got.get_json()["unit_amount"] == 1300

    patched = client.patch(
        "/admin/products/MUG-BLACK", json={"unit_amount": 1500, "active": False}, headers=demo
    )
    assert patched.status_code == 200
    assert patched.get_json() == {
        **MUG,
        "unit_amount": 1500,
        "currency": "usd",
        "active": False,
    }

    replaced = client.put(
        "/admin/products/MUG-BLACK", json={"name": "Black mug", "unit_amount": 1400}, headers=demo
    )
    assert replaced.status_code == 200
    assert replaced.get_json()["product_code"] == "MUG-BLACK"  # PUT replaces: code defaults to SKU
    assert replaced.get_json()["attributes"] == {} and replaced.get_json()["active"] is True

    created_by_put = client.put(
        "/admin/products/CUP-1", json={"name": "Cup", "unit_amount": 0}, headers=demo
    )
    assert created_by_put.status_code == 201

    # Storefront sees active products only, at the new price.
    shop_products = client.get("/api/products", headers={"X-Shop-Id": "demo"}).get_json()
    prices = {p["sku"]: p["unit_amount"] for p in shop_products["products"]}
    assert prices.get("MUG-BLACK") == 1400


def test_products_page_by_cursor(client: Any, demo: Headers) -> None:
    seen: list[str] = []
    after = None
    while True:
        url = "/admin/products?limit=2" + (f"&after={after}" if after else "")
        page = client.get(url, headers=demo).get_json()
        seen += [p["sku"] for p in page["products"]]
        after = page["next_cursor"]
        if after is None:
            break
    assert seen == sorted(seen) and len(seen) == len(set(seen)) == 6
    assert client.get("/admin/products?limit=0", headers=demo).status_code == 422
    assert client.get("/admin/products?limit=x", headers=demo).status_code == 422


@pytest.mark.parametrize(
    "method,path,body",
    [
        ("post", "/admin/products", {**MUG, "unit_amount": 12.5}),
        ("post", "/admin/products", {**MUG, "unit_amount": -1}),
        ("post", "/admin/products", {**MUG, "sku": "has space"}),
        ("post", "/admin/products", {**MUG, "currency": "eur"}),  # not the merchant's to set
        ("post", "/admin/products", {**MUG, "name": ""}),
        ("patch", "/admin/products/MUG-WHITE", {"unit_amount": True}),
        ("patch", "/admin/products/MUG-WHITE", {"name": None}),
        ("put", "/admin/products/MUG-WHITE", {"unit_amount": 100}),
        ("put", "/admin/products/has%20space", {"name": "X", "unit_amount": 100}),
        ("put", "/admin/shipping-options/" + "x" * 65, {"name": "X", "amount": 1}),
        ("post", "/admin/coupons", {"code": "BOTH", "percent_off": 10, "amount_off": 100}),
        ("post", "/admin/coupons", {"code": "NONE"}),
        ("put", "/admin/coupons/WELCOME10", {"percent_off": 10, "amount_off": 100}),
        ("post", "/admin/shipping-options", {"id": "x", "name": "X", "amount": -5}),
        ("patch", "/admin/shipping-options/standard", {"amount": None}),
    ],
)
def test_bad_input_is_422_and_changes_nothing(
    client: Any, demo: Headers, container: Container, method: str, path: str, body: Any
) -> None:
    def snapshot() -> Any:
        return db(
            container,
            "SELECT md5((SELECT string_agg(t::text, ',' ORDER BY sku) FROM products t)"
            " || (SELECT string_agg(c::text, ',' ORDER BY code) FROM coupons c)"
            " || (SELECT string_agg(s::text, ',' ORDER BY id) FROM shipping_options s))",
        )

    before = snapshot()
    resp = getattr(client, method)(path, json=body, headers=demo)
    assert resp.status_code == 422, resp.get_json()
    assert resp.get_json()["error"]["code"] == "invalid_request"
    assert snapshot() == before


def test_not_found_for_unknown_objects(client: Any, demo: Headers) -> None:
    assert client.get("/admin/products/NOPE", headers=demo).status_code == 404
    assert client.patch("/admin/products/NOPE", json={"name": "x"}, headers=demo).status_code == 404
    assert (
        client.patch("/admin/shipping-options/nope", json={"amount": 1}, headers=demo).status_code
        == 404
    )
    assert (
        client.patch("/admin/coupons/NOPE", json={"active": False}, headers=demo).status_code == 404
    )


def test_shipping_options_and_coupons(client: Any, demo: Headers) -> None:
    express = {"id": "express", "name": "Express", "amount": 1500}
    assert client.post("/admin/shipping-options", json=express, headers=demo).status_code == 201
    assert client.post("/admin/shipping-options", json=express, headers=demo).status_code == 409
    off = client.patch("/admin/shipping-options/standard", json={"active": False}, headers=demo)
    assert off.status_code == 200 and off.get_json() == {
        "id": "standard",
        "name": "Standard",
        "amount": 500,
        "active": False,
    }
    put = client.put(
        "/admin/shipping-options/pickup", json={"name": "Collect", "amount": 0}, headers=demo
    )
    assert put.status_code == 200 and put.get_json()["name"] == "Collect"
    options = {o["id"]: o for o in client.get("/admin/shipping-options", headers=demo).get_json()}
    assert set(options) == {"express", "pickup", "standard"} and not options["standard"]["active"]

    assert (
        client.post(
            "/admin/coupons", json={"code": "TENOFF", "amount_off": 1000}, headers=demo
        ).status_code
        == 201
    )
    assert (
        client.patch("/admin/coupons/WELCOME10", json={"active": False}, headers=demo).status_code
        == 200
    )
    swapped = client.put("/admin/coupons/TENOFF", json={"percent_off": 20}, headers=demo)
    assert swapped.status_code == 200
    assert swapped.get_json() == {
        "code": "TENOFF",
        "percent_off": 20,
        "amount_off": None,
        "active": True,
    }
    assert (
        client.put("/admin/coupons/NEW20", json={"amount_off": 200}, headers=demo).status_code
        == 201
    )
    coupons = {c["code"]: c for c in client.get("/admin/coupons", headers=demo).get_json()}
    assert coupons["TENOFF"]["percent_off"] == 20 and not coupons["WELCOME10"]["active"]
    assert set(coupons) == {"NEW20", "TENOFF", "WELCOME10"}

    # The checkout honours the switches at once.
    shopper = Storefront(client)
    shopper.add("MUG-WHITE")
    refused = shopper.checkout({"shipping_option_id": "standard"})
    assert refused.status_code == 422
    assert refused.get_json()["error"]["code"] == "unknown_shipping_option"
    refused = shopper.checkout({"coupon": "WELCOME10"})
    assert refused.status_code == 422 and refused.get_json()["error"]["code"] == "unknown_coupon"


def test_writes_replay_by_idempotency_key_and_are_audited(
    client: Any, demo: Headers, container: Container
) -> None:
    headers = {**demo, "Idempotency-Key": "create-mug-black"}
    first = client.post("/admin/products", json=MUG, headers=headers)
    replay = client.post("/admin/products", json=MUG, headers=headers)
    assert (first.status_code, replay.status_code) == (201, 201)
    assert replay.get_json() == first.get_json() and replay.headers["Idempotent-Replayed"] == "true"
    # Without the key, the same request is a new write: the SKU now exists.
    assert client.post("/admin/products", json=MUG, headers=demo).status_code == 409

    other = client.post("/admin/products", json={**MUG, "sku": "MUG-GREY"}, headers=headers)
    assert (
        other.status_code == 422 and other.get_json()["error"]["code"] == "idempotency_key_reused"
    )
    assert db(container, "SELECT count(*) FROM products WHERE sku = 'MUG-GREY'") == 0

    key_id = demo["Authorization"].split("_")[2]
    with container.uow() as uow:
        audit = [e for e in uow.audit.list("demo") if e.kind.startswith("merchant.")]
    assert [(e.kind, e.subject, e.actor) for e in audit] == [
        ("merchant.product.create", "MUG-BLACK", f"api_key:{key_id}")
    ]
    assert audit[0].details["idempotency_key"] == "create-mug-black"
    assert audit[0].details["fields"]["unit_amount"] == 1300


def test_concurrent_twins_with_one_key_write_once(
    live_server: str, demo: Headers, container: Container
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    import requests

    headers = {**demo, "Idempotency-Key": "twin"}

    def send(_: int) -> tuple[int, Any]:
        r = requests.post(
            f"{live_server}/admin/stock/MUG-WHITE/warehouse/adjustments",
            json={"delta": 5, "reason": "delivery"},
            headers=headers,
            timeout=30,
        )
        return r.status_code, r.json()

    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(send, range(6)))
    assert {s for s, _ in answers} == {200} and len({str(b) for _, b in answers}) == 1
    assert (
        db(
            container,
            "SELECT on_hand FROM inventory_levels WHERE shop_id='demo' AND sku='MUG-WHITE'",
        )
        == 55
    )
    assert db(container, "SELECT count(*) FROM stock_ledger WHERE reason = 'delivery'") == 1


def test_a_price_change_never_alters_an_open_checkout(
    client: Any, app: Any, demo: Headers, container: Container, emulator: EmulatorServer
) -> None:
    shopper = Storefront(client)
    shopper.add("MUG-WHITE", 2)
    checkout = shopper.checkout({"shipping_option_id": "standard"}).get_json()
    assert checkout["amount_total"] == 2 * 1200 + 500

    assert (
        client.patch(
            "/admin/products/MUG-WHITE", json={"unit_amount": 9900}, headers=demo
        ).status_code
        == 200
    )
    assert (
        client.patch(
            "/admin/shipping-options/standard", json={"amount": 2000}, headers=demo
        ).status_code
        == 200
    )

    lines = db(container, "SELECT lines FROM checkouts WHERE id = %s", checkout["checkout_id"])
    assert [(line["sku"], line["unit_amount"]) for line in lines] == [("MUG-WHITE", 1200)]
    assert (
        db(container, "SELECT total FROM checkouts WHERE id = %s", checkout["checkout_id"]) == 2900
    )
    sessions = emulator_state(emulator.url)["accounts"]["sk_test_kassa_demo"]
    assert sessions["checkout_sessions"] == 1
    status = shopper.status(checkout["checkout_id"]).get_json()
    assert status["state"] == "open"
    # A new checkout of the same cart is priced from the catalog as it is now.
    fresh = Storefront(app.test_client(), "demo")
    fresh.add("MUG-WHITE", 2)
    assert (
        fresh.checkout({"shipping_option_id": "standard"}).get_json()["amount_total"]
        == 2 * 9900 + 2000
    )


def test_every_products_page_is_read_from_the_primary_key(container: Container) -> None:
    for after, mode in product((None, "MUG-WHITE"), PLAN_MODES):
        with plans(container, mode) as (uow, seen):
            uow.catalog.product_page("demo", after, 50)
        [plan] = [p for p in seen if "FROM products" in p]
        cond = plan.split("Index Cond")[1].split("\n")[0]
        assert "Index Scan using products_pkey on products" in plan, (mode, plan)
        assert "sku >" in cond and "Sort" not in plan, (mode, plan)

"""Creating checkouts: authoritative prices, holds that never oversell, one session per intent."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from support import Storefront, inject_fault, sessions_created, sql_one

from devstack.processes import wait_for
from kassa.bootstrap import Container
from kassa.stripe_gateway import StripeGateway
from ops.seed import seed_shop_in
from schemas.records import InventoryLevel
from schemas.settings import Settings
from stripe_emulator.server import EmulatorServer


@pytest.fixture
def settings(base_settings: Settings) -> Settings:
    """Concurrency tests come from one IP; the rate limit gets its own test below."""
    return base_settings.model_copy(update={"checkout_rate_limit": "1000/minute"})


@pytest.fixture(autouse=True)
def shops(container: Container) -> None:
    with container.uow() as uow:
        seed_shop_in(uow, "demo", container.settings, stripe_api_key="sk_test_kassa_demo")
        seed_shop_in(
            uow,
            "tokyo",
            container.settings,
            currency="jpy",
            name="Tokyo",
            stripe_api_key="sk_test_kassa_tokyo",
        )


def reserved(container: Container, sku: str, shop: str = "demo") -> int:
    return int(
        sql_one(
            container.settings.database_url,
            "SELECT COALESCE(SUM(reserved), 0) FROM inventory_levels WHERE shop_id = %s AND sku = %s",
            shop,
            sku,
        )
    )


def count(container: Container, table: str) -> int:
    return int(sql_one(container.settings.database_url, f"SELECT count(*) FROM {table}"))


def test_checkout_from_cart_cookie(
    client: Any, container: Container, emulator: EmulatorServer
) -> None:
    shop = Storefront(client)
    assert shop.add("TSHIRT-RED-M", 2).status_code == 200
    resp = shop.checkout({"shipping_option_id": "standard"})
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert body["amount_total"] == 2 * 2500 + 500 and body["currency"] == "usd"
    assert body["session_id"].startswith("cs_test_") and body["url"]
    assert (
        "kassa_checkout=" in resp.headers["Set-Cookie"] and "HttpOnly" in resp.headers["Set-Cookie"]
    )
    assert reserved(container, "TSHIRT-RED-M") == 2
    assert sessions_created(emulator.url) == 1
    status = shop.status(body["checkout_id"])
    assert status.status_code == 200 and status.get_json() == {"state": "open", "order": None}
    assert status.headers["Cache-Control"] == "no-store"


def test_status_needs_the_nonce(client: Any, app: Any) -> None:
    shop = Storefront(client)
    shop.add("MUG-WHITE")
    checkout_id = shop.checkout().get_json()["checkout_id"]
    stranger = Storefront(app.test_client())
    resp = stranger.status(checkout_id)
    assert resp.status_code == 404 and resp.get_json()["error"]["code"] == "checkout_not_found"
    assert stranger.status("not-a-uuid").status_code == 404


def test_ten_concurrent_identical_requests_make_one_checkout(
    live_server: str, container: Container, emulator: EmulatorServer
) -> None:
    browser = requests.Session()
    browser.headers["X-Shop-Id"] = "demo"
    assert browser.post(
        f"{live_server}/api/cart/items", json={"sku": "MUG-WHITE", "quantity": 3}
    ).ok
    cookie = browser.cookies.get("kassa_cart")

    def click(_: int) -> tuple[int, dict[str, Any]]:
        r = requests.post(
            f"{live_server}/api/checkout",
            json={},
            headers={"X-Shop-Id": "demo"},
            cookies={"kassa_cart": cookie},
            timeout=30,
        )
        return r.status_code, r.json()

    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(click, range(10)))
    statuses = sorted(s for s, _ in answers)
    assert statuses.count(201) == 1 and statuses.count(200) == 9, statuses
    assert len({str(sorted(body.items())) for _, body in answers}) == 1  # ten identical answers
    assert count(container, "checkouts") == 1
    assert count(container, "inventory_holds") == 1
    assert reserved(container, "MUG-WHITE") == 3
    assert sessions_created(emulator.url) == 1


def test_ten_concurrent_headless_requests_with_one_key(
    live_server: str, container: Container, emulator: EmulatorServer
) -> None:
    body = {"lines": [{"sku": "STICKERS", "quantity": 4}]}

    def call(_: int) -> tuple[int, dict[str, Any]]:
        r = requests.post(
            f"{live_server}/api/checkout",
            json=body,
            headers={"X-Shop-Id": "demo", "Idempotency-Key": "order-form-77"},
            timeout=30,
        )
        return r.status_code, r.json()

    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(call, range(10)))
    assert sorted(s for s, _ in answers).count(201) == 1
    assert len({a[1]["session_id"] for a in answers}) == 1
    assert count(container, "checkouts") == 1
    assert reserved(container, "STICKERS") == 4
    assert sessions_created(emulator.url) == 1


def test_twenty_buyers_for_five_units(live_server: str, container: Container) -> None:
    with container.uow() as uow:
        uow.inventory.set_level(
            "demo",
            InventoryLevel(sku="POSTER-A2", location="store", priority=2, on_hand=5, reserved=0),
        )

    def buy(i: int) -> tuple[int, dict[str, Any]]:
        r = requests.post(
            f"{live_server}/api/checkout",
            json={"lines": [{"sku": "POSTER-A2", "quantity": 1}]},
            headers={"X-Shop-Id": "demo", "Idempotency-Key": f"buyer-{i}"},
            timeout=30,
        )
        return r.status_code, r.json()

    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(buy, range(20)))
    statuses = [s for s, _ in answers]
    assert statuses.count(201) == 5 and statuses.count(409) == 15, statuses
    for status, body in answers:
        if status == 409:
            assert body["error"]["code"] == "out_of_stock"
            (line,) = body["error"]["details"]["lines"]
            assert line["sku"] == "POSTER-A2" and line["requested"] == 1 and line["available"] == 0
    assert reserved(container, "POSTER-A2") == 5
    assert count(container, "inventory_holds") == 5


def test_client_price_is_ignored_and_audited(
    client: Any, container: Container, emulator: EmulatorServer
) -> None:
    resp = Storefront(client).checkout(
        {"lines": [{"sku": "MUG-WHITE", "quantity": 2, "unit_amount": 1}]}, key="cheap-1"
    )
    assert resp.status_code == 201
    assert resp.get_json()["amount_total"] == 2 * 1200
    import stripe

    session = stripe.StripeClient(
        "sk_test_kassa_demo", base_addresses={"api": emulator.url}
    ).v1.checkout.sessions.retrieve(resp.get_json()["session_id"])
    assert session.amount_total == 2400
    assert session.metadata.to_dict() == {
        "shop_id": "demo",
        "checkout_id": resp.get_json()["checkout_id"],
    }
    with container.uow() as uow:
        (event,) = uow.audit.list("demo", "client_price_ignored")
    assert event.subject == "MUG-WHITE" and event.details["catalog_unit_amount"] == 1200


def test_transient_stripe_failures_are_retried_with_the_same_key(
    client: Any, container: Container, emulator: EmulatorServer
) -> None:
    inject_fault(emulator.url, "/v1/checkout/sessions", 500, count=2)
    resp = Storefront(client).checkout(
        {"lines": [{"sku": "MUG-WHITE", "quantity": 1}]}, key="retry-1"
    )
    assert resp.status_code == 201
    assert sessions_created(emulator.url) == 1
    assert reserved(container, "MUG-WHITE") == 1


def test_stripe_down_releases_the_hold(
    client: Any, container: Container, emulator: EmulatorServer
) -> None:
    inject_fault(emulator.url, "/v1/checkout/sessions", 500, count=100)
    resp = Storefront(client).checkout(
        {"lines": [{"sku": "MUG-WHITE", "quantity": 2}]}, key="down-1"
    )
    assert resp.status_code == 503
    assert resp.get_json()["error"]["code"] == "payment_provider_unavailable"
    assert reserved(container, "MUG-WHITE") == 0
    assert sql_one(container.settings.database_url, "SELECT state FROM checkouts") == "failed"
    requests.delete(f"{emulator.url}/_emulator/faults", timeout=5)
    retry = Storefront(client).checkout(
        {"lines": [{"sku": "MUG-WHITE", "quantity": 2}]}, key="down-1"
    )
    assert retry.status_code == 201  # the intent is free again once Stripe is back
    assert reserved(container, "MUG-WHITE") == 2


def test_rate_limit_per_ip(app: Any, container: Container) -> None:
    container.settings = container.settings.model_copy(update={"checkout_rate_limit": "10/minute"})
    shop = Storefront(app.test_client())
    answers = [
        shop.checkout({"lines": [{"sku": "STICKERS", "quantity": 1}]}, key=f"k{i}")
        for i in range(11)
    ]
    assert [a.status_code for a in answers[:10]] == [201] * 10
    assert answers[10].status_code == 429
    assert answers[10].get_json()["error"]["code"] == "rate_limited"
    assert int(answers[10].headers["Retry-After"]) > 0


def test_lines_without_cart_or_key_are_refused(client: Any, container: Container) -> None:
    resp = Storefront(client).checkout({"lines": [{"sku": "MUG-WHITE", "quantity": 1}]})
    assert (
        resp.status_code == 400 and resp.get_json()["error"]["code"] == "idempotency_key_required"
    )
    assert count(container, "checkouts") == 0


def test_key_reused_for_another_cart(client: Any) -> None:
    shop = Storefront(client)
    assert (
        shop.checkout({"lines": [{"sku": "MUG-WHITE", "quantity": 1}]}, key="same").status_code
        == 201
    )
    resp = shop.checkout({"lines": [{"sku": "MUG-WHITE", "quantity": 2}]}, key="same")
    assert resp.status_code == 422 and resp.get_json()["error"]["code"] == "idempotency_key_reused"


def test_bad_input_changes_nothing(client: Any, container: Container) -> None:
    shop = Storefront(client)
    bad_json = client.post(
        "/api/checkout", data="{nope", headers={**shop.headers, "Content-Type": "application/json"}
    )
    assert bad_json.status_code == 400 and bad_json.get_json()["error"]["code"] == "invalid_json"
    for body in (
        {"lines": [{"sku": "MUG-WHITE", "quantity": 0}]},
        {"lines": []},
        {"bogus": 1},
        {"lines": [{"sku": "MUG-WHITE", "quantity": 1.5}]},
    ):
        resp = shop.checkout(body, key="x")
        assert resp.status_code == 422, body
        assert resp.get_json()["error"]["code"] == "invalid_request"
    unknown = shop.checkout({"lines": [{"sku": "NOPE", "quantity": 1}]}, key="y")
    assert unknown.status_code == 404 and unknown.get_json()["error"]["code"] == "unknown_sku"
    assert shop.checkout({}, key="z").get_json()["error"]["code"] == "empty_cart"
    assert count(container, "checkouts") == 0 and reserved(container, "MUG-WHITE") == 0


def test_jpy_has_no_minor_unit(client: Any, emulator: EmulatorServer) -> None:
    shop = Storefront(client, shop="tokyo")
    resp = shop.checkout(
        {"lines": [{"sku": "MATCHA-50G", "quantity": 2}], "shipping_option_id": "standard"},
        key="jp-1",
    )
    assert resp.status_code == 201
    assert (
        resp.get_json()["amount_total"] == 2 * 2800 + 600 and resp.get_json()["currency"] == "jpy"
    )
    assert sessions_created(emulator.url, "sk_test_kassa_tokyo") == 1


def test_coupon_and_shipping_resolved_server_side(client: Any) -> None:
    shop = Storefront(client)
    body = {
        "lines": [{"sku": "TSHIRT-BLUE-L", "quantity": 3}],
        "coupon": "WELCOME10",
        "shipping_option_id": "standard",
    }
    resp = shop.checkout(body, key="c-1")
    assert resp.get_json()["amount_total"] == 8100 - 810 + 500
    assert (
        shop.checkout({**body, "coupon": "FREE100"}, key="c-2").get_json()["error"]["code"]
        == "unknown_coupon"
    )


def test_changing_blue_leaves_red_alone(client: Any) -> None:
    shop = Storefront(client)
    shop.add("TSHIRT-RED-M", 1)
    cart = shop.add("TSHIRT-BLUE-M", 1).get_json()
    blue = next(line for line in cart["lines"] if line["sku"] == "TSHIRT-BLUE-M")
    assert "colour=blue" in blue["variant"]
    cart = shop.set_quantity(blue["line_key"], 4).get_json()
    quantities = {line["sku"]: line["quantity"] for line in cart["lines"]}
    assert quantities == {"TSHIRT-RED-M": 1, "TSHIRT-BLUE-M": 4}
    assert cart["subtotal"] == 5 * 2500
    assert shop.set_quantity("nope", 1).get_json()["error"]["code"] == "unknown_line"


def test_shops_cannot_see_each_other(app: Any, client: Any) -> None:
    demo = Storefront(client)
    demo.add("MUG-WHITE", 1)
    checkout_id = demo.checkout().get_json()["checkout_id"]
    tokyo = Storefront(client, shop="tokyo")  # same browser, same cookies, other shop
    assert tokyo.cart().get_json()["lines"] == []
    assert tokyo.status(checkout_id).status_code == 404
    assert tokyo.add("MUG-WHITE").get_json()["error"]["code"] == "unknown_sku"
    skus = {
        p["sku"]
        for p in client.get("/api/products", headers={"X-Shop-Id": "tokyo"}).get_json()["products"]
    }
    assert "MUG-WHITE" not in skus and "MATCHA-50G" in skus
    check = client.post(
        "/api/inventory/validate",
        json={"items": [{"sku": "MUG-WHITE", "quantity": 1}]},
        headers={"X-Shop-Id": "tokyo"},
    ).get_json()
    assert check == {
        "ok": False,
        "items": [{"sku": "MUG-WHITE", "requested": 1, "available": 0, "ok": False}],
    }


def test_inventory_validation_fails_closed(client: Any, container: Container) -> None:
    ok = client.post(
        "/api/inventory/validate",
        json={"items": [{"sku": "MUG-WHITE", "quantity": 2}]},
        headers={"X-Shop-Id": "demo"},
    )
    assert ok.get_json()["ok"] is True
    with container.db.pool.connection() as conn:
        conn.execute("ALTER TABLE inventory_levels RENAME TO inventory_levels_gone")
    try:
        resp = client.post(
            "/api/inventory/validate",
            json={"items": [{"sku": "MUG-WHITE", "quantity": 2}]},
            headers={"X-Shop-Id": "demo"},
        )
        assert resp.status_code == 503 and resp.get_json()["error"]["code"] == "stock_unavailable"
    finally:
        with container.db.pool.connection() as conn:
            conn.execute("ALTER TABLE inventory_levels_gone RENAME TO inventory_levels")


def test_a_twin_never_releases_the_owners_checkout(
    live_server: str, container: Container, emulator: EmulatorServer
) -> None:
    """Stripe is slow: the owner's call is in flight longer than the twin's patience."""
    container.payments = StripeGateway(emulator.url, max_retries=0)  # no SDK patience at all
    requests.post(
        f"{emulator.url}/_emulator/faults",
        json={
            "method": "POST",
            "path_prefix": "/v1/checkout/sessions",
            "slow_seconds": 5,
            "count": 1,
        },
        timeout=5,
    ).raise_for_status()

    def call() -> requests.Response:
        return requests.post(
            f"{live_server}/api/checkout",
            json={"lines": [{"sku": "MUG-WHITE", "quantity": 1}]},
            headers={"X-Shop-Id": "demo", "Idempotency-Key": "slow-stripe"},
            timeout=30,
        )

    def owner_is_at_stripe() -> bool:
        """The slow fault is taken: the owner's call holds Stripe's key for five seconds."""
        faults = requests.get(f"{emulator.url}/_emulator/faults", timeout=5).json()["faults"]
        return not faults

    with ThreadPoolExecutor(1) as pool:
        owner_call = pool.submit(call)
        wait_for(owner_is_at_stripe)
        twin = call()
        owner = owner_call.result()
    assert owner.status_code == 201
    assert twin.status_code == 409 and twin.json()["error"]["code"] == "checkout_in_progress"
    assert twin.headers["Retry-After"] == "1"
    assert reserved(container, "MUG-WHITE") == 1  # the owner's hold stands
    assert sql_one(container.settings.database_url, "SELECT state FROM checkouts") == "open"
    again = call()
    assert again.status_code == 200 and again.json()["session_id"] == owner.json()["session_id"]
    assert sessions_created(emulator.url) == 1

"""Bad input never reaches Postgres or Redis: NUL bytes, lone surrogates and control
characters anywhere a client can put a string, absurdly deep JSON, oversized bodies and
wrong media types all get a clear 4xx in the contract's shape, and change nothing."""

from __future__ import annotations

from typing import Any

import pytest
from support import Storefront, db

from checkout.validation import MAX_JSON_DEPTH
from kassa.bootstrap import Container
from ops.seed import seed_shop_in

COUNTED = (
    "checkouts",
    "inventory_holds",
    "orders",
    "outbox",
    "audit_events",
    "stripe_events",
    "products",
    "shops",
)


@pytest.fixture(autouse=True)
def demo(container: Container) -> None:
    with container.uow() as uow:
        seed_shop_in(uow, "demo", container.settings, stripe_api_key="sk_test_kassa_demo")


@pytest.fixture
def shopper(client: Any) -> Storefront:
    """A browser with one line in its cart (so the cookie's cart exists to be left alone)."""
    front = Storefront(client)
    assert front.add("MUG-WHITE", 2).status_code == 200
    return front


def snapshot(container: Container, front: Storefront) -> dict[str, Any]:
    """What a request could have changed: row counts, stock, Redis keys and the cart."""
    state: dict[str, Any] = {t: db(container, f"SELECT count(*) FROM {t}") for t in COUNTED}
    state["reserved"] = db(container, "SELECT sum(reserved) FROM inventory_levels")
    # The rate limiter's counters do move: a refused request still counts against a client.
    state["redis_keys"] = sorted(
        k for k in container.redis.keys("*") if not k.startswith(b"LIMITS")
    )
    state["cart"] = front.cart().get_json()
    return state


def assert_error(resp: Any, status: int, code: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.get_data(as_text=True)[:500]
    body: dict[str, Any] = resp.get_json()
    assert set(body) == {"error"} and body["error"]["code"] == code, body
    assert body["error"]["message"]
    return body


NUL = "\x00"
DEMO = {"X-Shop-Id": "demo"}
ADMIN = {"Authorization": "Bearer dev-admin-token"}


def line_key(front: Storefront) -> str:
    key: str = front.cart().get_json()["lines"][0]["line_key"]
    return key


# (method, path, request keyword arguments, where the bad value is reported)
BAD_STRINGS: list[tuple[str, str, dict[str, Any], list[str]]] = [
    ("POST", "/api/cart/items", {"json": {"sku": f"MUG{NUL}WHITE"}}, ["sku"]),
    ("POST", "/api/cart/items", {"json": {"sku": "MUG-WHITE\ud800"}}, ["sku"]),
    ("POST", "/api/cart/items", {"json": {"sku": "MUG-\x1bWHITE"}}, ["sku"]),
    ("POST", "/api/cart/items", {"json": {"sku": "M" * 65}}, ["sku"]),
    ("POST", "/api/checkout", {"json": {"coupon": f"SAVE{NUL}10"}}, ["coupon"]),
    (
        "POST",
        "/api/checkout",
        {"json": {"shipping_option_id": f"std{NUL}"}},
        ["shipping_option_id"],
    ),
    ("POST", "/api/checkout", {"json": {"customer_email": f"a{NUL}@b.test"}}, ["customer_email"]),
    (
        "POST",
        "/api/checkout",
        {
            "json": {"lines": [{"sku": f"MUG{NUL}", "quantity": 1}]},
            "headers": {"Idempotency-Key": "k"},
        },
        ["lines", 0, "sku"],
    ),
    (
        "POST",
        "/api/checkout",
        {
            "json": {"lines": [{"sku": "MUG-WHITE", "quantity": 1, "unit_amount": f"1{NUL}"}]},
            "headers": {"Idempotency-Key": "k"},
        },
        ["lines", 0, "unit_amount"],
    ),
    (
        "POST",
        "/api/inventory/validate",
        {"json": {"items": [{"sku": f"MUG{NUL}", "quantity": 1}]}},
        ["items", 0, "sku"],
    ),
    ("PATCH", "/api/cart/items/MUG%00WHITE", {"json": {"quantity": 1}}, ["path", "line_key"]),
    ("DELETE", "/api/cart/items/%00", {}, ["path", "line_key"]),
    ("GET", "/api/checkout/%00/status", {}, ["path", "checkout_id"]),
    ("POST", "/api/checkout/x%00/cancel", {}, ["path", "checkout_id"]),
    ("GET", "/api/orders/K-%00", {"headers": {"X-Modification-Token": "t"}}, ["path", "reference"]),
    ("GET", "/api/products", {"headers": {"X-Shop-Id": f"demo{NUL}"}}, ["header", "X-Shop-Id"]),
    ("GET", "/api/products", {"headers": {"X-Shop-Id": "d" * 256}}, ["header", "X-Shop-Id"]),
    ("GET", "/api/nowhere", {"headers": {"X-Shop-Id": f"{NUL}"}}, ["header", "X-Shop-Id"]),
    (
        "POST",
        "/api/checkout",
        {"json": {}, "headers": {"Idempotency-Key": f"key{NUL}"}},
        ["header", "Idempotency-Key"],
    ),
    (
        "GET",
        "/api/orders/K-1",
        {"headers": {"X-Modification-Token": NUL}},
        ["header", "X-Modification-Token"],
    ),
    ("GET", "/ops/outbox?kind=stripe%00", {"headers": ADMIN}, ["query", "kind"]),
    ("POST", "/ops/outbox/1/replay?x=%00", {"headers": ADMIN}, ["query", "x"]),
    ("POST", "/webhooks/stripe/demo%00", {"data": "{}"}, ["path", "shop_id"]),
    ("GET", "/cart?cancelled=%00", {}, ["query", "cancelled"]),
    ("GET", "/orders/K%00", {}, ["path", "reference"]),
    ("POST", "/cart/add", {"data": {"sku": f"MUG{NUL}", "csrf_token": "x"}}, ["form", "sku"]),
    ("POST", "/cart/lines/a%00b", {"data": {"quantity": "1"}}, ["path", "line_key"]),
]


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "loc"),
    BAD_STRINGS,
    ids=[f"{m} {p} {'.'.join(map(str, loc))}" for m, p, _, loc in BAD_STRINGS],
)
def test_bad_strings_get_422_and_change_nothing(
    client: Any,
    container: Container,
    shopper: Storefront,
    method: str,
    path: str,
    kwargs: dict[str, Any],
    loc: list[Any],
) -> None:
    before = snapshot(container, shopper)
    headers = {**DEMO, **kwargs.pop("headers", {})}
    resp = client.open(path, method=method, headers=headers, **kwargs)
    body = assert_error(resp, 422, "invalid_request")
    reported = [d["loc"] for d in body["error"]["details"]]
    assert any(where[-len(loc) :] == loc for where in reported), reported
    assert NUL not in resp.get_data(as_text=True), "the bad value is not echoed back"
    assert snapshot(container, shopper) == before


def test_json_escaped_nul_is_refused_like_a_raw_one(
    client: Any, container: Container, shopper: Storefront
) -> None:
    before = snapshot(container, shopper)
    for raw in ('{"sku": "MUG-WHITE\\u0000"}', '{"sku": "\\ud800"}'):
        resp = client.post(
            "/api/cart/items", data=raw, headers=DEMO, content_type="application/json"
        )
        assert_error(resp, 422, "invalid_request")
    assert snapshot(container, shopper) == before


BODY_ENDPOINTS = ["/api/cart/items", "/api/checkout", "/api/inventory/validate"]


@pytest.mark.parametrize("path", BODY_ENDPOINTS)
@pytest.mark.parametrize(("opener", "depth"), [("[", 100_000), ('{"a":', 50_000)])
def test_absurdly_deep_json_is_400_not_a_recursion_error(
    client: Any, container: Container, shopper: Storefront, path: str, opener: str, depth: int
) -> None:
    """Both fit under the 256 KiB body limit, so only the depth bound can stop them."""
    before = snapshot(container, shopper)
    resp = client.post(path, data=opener * depth, headers=DEMO, content_type="application/json")
    assert_error(resp, 400, "json_too_deep")
    assert snapshot(container, shopper) == before


def test_depth_limit_is_exact(client: Any, shopper: Storefront) -> None:
    """Well-formed JSON one level too deep is refused as such; at the limit it is parsed
    (and then refused by the model, which knows no such field)."""

    def nested(depth: int) -> str:
        return '{"sku": ' + "[" * (depth - 1) + "]" * (depth - 1) + "}"

    too_deep = client.post(
        "/api/cart/items",
        data=nested(MAX_JSON_DEPTH + 1),
        headers=DEMO,
        content_type="application/json",
    )
    assert_error(too_deep, 400, "json_too_deep")
    at_limit = client.post(
        "/api/cart/items",
        data=nested(MAX_JSON_DEPTH),
        headers=DEMO,
        content_type="application/json",
    )
    assert_error(at_limit, 422, "invalid_request")


@pytest.mark.parametrize("path", [*BODY_ENDPOINTS, "/webhooks/stripe/demo"])
def test_ten_megabyte_body_is_413(
    client: Any, container: Container, shopper: Storefront, path: str
) -> None:
    before = snapshot(container, shopper)
    body = '{"sku": "' + "x" * (10 * 1024 * 1024) + '"}'
    resp = client.post(path, data=body, headers=DEMO, content_type="application/json")
    assert_error(resp, 413, "payload_too_large")
    assert snapshot(container, shopper) == before


@pytest.mark.parametrize("path", BODY_ENDPOINTS)
@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
    ],
)
def test_wrong_content_type_is_415(
    client: Any, container: Container, shopper: Storefront, path: str, content_type: str
) -> None:
    before = snapshot(container, shopper)
    resp = client.post(
        path,
        data='{"sku": "MUG-WHITE", "quantity": 1}',
        headers=DEMO,
        content_type=content_type,
    )
    assert_error(resp, 415, "unsupported_media_type")
    assert snapshot(container, shopper) == before


def test_json_with_a_charset_or_a_plus_json_type_is_accepted(
    client: Any, shopper: Storefront
) -> None:
    for content_type in ("application/json; charset=utf-8", "application/merge-patch+json"):
        resp = client.post(
            "/api/cart/items",
            data='{"sku": "MUG-WHITE", "quantity": 1}',
            headers=DEMO,
            content_type=content_type,
        )
        assert resp.status_code == 200, resp.get_data(as_text=True)
    assert shopper.cart().get_json()["lines"][0]["quantity"] == 4


def test_storefront_checkout_form_with_a_bad_field_goes_back_to_the_cart(
    client: Any, container: Container, shopper: Storefront
) -> None:
    """The HTML form's fields go through the same model: a 65-character shipping option id
    is refused (back to the cart with a message), not a 500, and starts no checkout."""
    page = client.get("/")
    token = page.get_data(as_text=True).split('name="csrf_token" value="')[1].split('"')[0]
    client.post("/cart/add", data={"sku": "MUG-WHITE", "csrf_token": token})
    before = db(container, "SELECT count(*) FROM checkouts")
    resp = client.post("/checkout", data={"shipping_option_id": "S" * 65, "csrf_token": token})
    assert resp.status_code == 303, resp.get_data(as_text=True)[:300]
    assert "/cart" in resp.headers["Location"]
    assert db(container, "SELECT count(*) FROM checkouts") == before


def test_openapi_documents_the_refusals(client: Any) -> None:
    """Every operation lists the 4xx answers above, so clients (and the fuzzer) know them."""
    paths = client.get("/openapi.json").get_json()["paths"]
    for path, operations in paths.items():
        for method, op in operations.items():
            codes = set(op["responses"])
            assert "422" in codes, (method, path)
            if path.startswith("/api/"):
                assert {"400", "404"} <= codes, (method, path)
            if "requestBody" in op:
                assert "413" in codes, (method, path)
    add_item = paths["/api/cart/items"]["post"]
    assert {"400", "413", "415", "422"} <= set(add_item["responses"])
    assert "json_too_deep" in add_item["responses"]["400"]["description"]
    line_key = next(p for p in paths["/api/cart/items/{line_key}"]["patch"]["parameters"])
    assert line_key["schema"]["maxLength"] == 255 and "pattern" in line_key["schema"]
    assert set(paths["/api/checkout"]["post"]["responses"]) >= {"200", "201", "409", "429"}
    webhook = paths["/webhooks/stripe/{shop_id}"]["post"]["responses"]
    assert "webhook_timestamp_out_of_tolerance" in webhook["400"]["description"]

"""Per-shop API keys: shown once, stored hashed, revocable, and confined to their shop.

Fail closed: a missing, malformed, unknown or revoked key is a 401; another shop's
objects are not found (404), and nothing of the other shop changes."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from typing import Any

import pytest
from integration.workers.outbox_support import run_cli
from support import db

from kassa.bootstrap import Container
from schemas.settings import Settings

Headers = dict[str, str]


def test_a_key_is_shown_once_and_stored_hashed(
    client: Any, operator: Headers, container: Container, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    resp = client.post("/admin/api-keys", json={"shop_id": "demo", "name": "ERP"}, headers=operator)
    assert resp.status_code == 201
    created = resp.get_json()
    key, key_id = created["key"], created["id"]
    assert key.startswith(f"kassa_sk_{key_id}_") and len(key) > 60
    secret = key[len(f"kassa_sk_{key_id}_") :]
    stored = db(container, "SELECT secret_hash FROM api_keys WHERE id = %s", key_id)
    assert stored == hashlib.sha256(secret.encode()).hexdigest()
    assert (
        db(container, "SELECT count(*) FROM api_keys WHERE secret_hash LIKE %s", f"%{secret}%") == 0
    )

    listed = client.get("/admin/api-keys?shop=demo", headers=operator)
    assert [k["id"] for k in listed.get_json()] == [key_id]
    assert listed.get_json()[0]["name"] == "ERP" and listed.get_json()[0]["last_used_at"] is None
    text = listed.get_data(as_text=True)
    assert secret not in text and "secret_hash" not in text and "key" not in listed.get_json()[0]

    assert client.get("/admin/shop", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    used = client.get("/admin/api-keys?shop=demo", headers=operator).get_json()[0]
    assert used["last_used_at"] is not None
    assert secret not in "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)


def test_key_creation_refuses_bad_input(client: Any, operator: Headers) -> None:
    resp = client.post("/admin/api-keys", json={"shop_id": "nope", "name": "x"}, headers=operator)
    assert resp.status_code == 404 and resp.get_json()["error"]["code"] == "shop_not_found"
    resp = client.post("/admin/api-keys", json={"shop_id": "demo", "name": ""}, headers=operator)
    assert resp.status_code == 422
    assert client.get("/admin/api-keys?shop=nope", headers=operator).status_code == 404
    assert client.delete("/admin/api-keys/0000000000000000", headers=operator).status_code == 404


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer",
        "Bearer kassa_sk_",
        "Bearer kassa_sk_0123456789abcdef_" + "A" * 43,  # well-formed, unknown
        "Token {key}",
        "Bearer {key}x",
        "Bearer {tampered}",
    ],
)
def test_merchant_endpoints_fail_closed(
    client: Any, key_for: Callable[..., Headers], authorization: str | None
) -> None:
    key = key_for("demo")["Authorization"].removeprefix("Bearer ")
    tampered = key[:-1] + ("A" if key[-1] != "A" else "B")
    headers = (
        {"Authorization": authorization.format(key=key, tampered=tampered)} if authorization else {}
    )
    for method, path, body in [
        ("get", "/admin/products", None),
        ("post", "/admin/products", {"sku": "X-1", "name": "X", "unit_amount": 1}),
        ("get", "/admin/stock", None),
        ("put", "/admin/stock/MUG-WHITE/warehouse", {"on_hand": 1, "reason": "x"}),
    ]:
        resp = getattr(client, method)(path, json=body, headers=headers)
        assert resp.status_code == 401, (path, resp.get_json())
        assert resp.get_json()["error"]["code"] == "unauthorized"


def test_a_revoked_key_stops_working_at_once(
    client: Any, operator: Headers, key_for: Callable[..., Headers], container: Container
) -> None:
    headers = key_for("demo", "till")
    assert client.get("/admin/products", headers=headers).status_code == 200
    key_id = headers["Authorization"].split("_")[2]
    revoked = client.delete(f"/admin/api-keys/{key_id}", headers=operator)
    assert revoked.status_code == 200 and revoked.get_json()["revoked_at"] is not None
    assert client.get("/admin/products", headers=headers).status_code == 401
    again = client.delete(f"/admin/api-keys/{key_id}", headers=operator)
    assert again.get_json()["revoked_at"] == revoked.get_json()["revoked_at"]
    with container.uow() as uow:
        audit = [(e.kind, e.actor) for e in uow.audit.list("demo") if e.subject == key_id]
    assert audit == [
        ("operator.api_key_created", "operator"),
        ("operator.api_key_revoked", "operator"),
        ("operator.api_key_revoked", "operator"),
    ]


def test_a_key_of_one_shop_never_reads_or_changes_another(
    client: Any, key_for: Callable[..., Headers], container: Container
) -> None:
    demo, tokyo = key_for("demo"), key_for("tokyo")
    # Reads: each key sees its own shop only.
    demo_skus = {
        p["sku"] for p in client.get("/admin/products", headers=demo).get_json()["products"]
    }
    tokyo_skus = {
        p["sku"] for p in client.get("/admin/products", headers=tokyo).get_json()["products"]
    }
    assert "MUG-WHITE" in demo_skus and "MATCHA-50G" in tokyo_skus and not demo_skus & tokyo_skus
    assert client.get("/admin/shop", headers=tokyo).get_json()["id"] == "tokyo"
    assert {s["sku"] for s in client.get("/admin/stock", headers=tokyo).get_json()} <= tokyo_skus
    assert client.get("/admin/products/MUG-WHITE", headers=tokyo).status_code == 404
    ledger = client.get("/admin/stock/ledger", headers=tokyo).get_json()["entries"]
    assert {e["sku"] for e in ledger} <= tokyo_skus

    # Writes aimed at the other shop's objects: not found, nothing changed.
    coupon = {"code": "DEMO5", "percent_off": 5}
    assert client.post("/admin/coupons", json=coupon, headers=demo).status_code == 201
    before = db(
        container,
        "SELECT md5(string_agg(t::text, ',' ORDER BY sku)) FROM products t WHERE shop_id='demo'",
    )
    stock_before = db(
        container, "SELECT on_hand FROM inventory_levels WHERE shop_id='demo' AND sku='MUG-WHITE'"
    )
    attempts = [
        client.patch("/admin/products/MUG-WHITE", json={"unit_amount": 1}, headers=tokyo),
        client.put(
            "/admin/stock/MUG-WHITE/warehouse", json={"on_hand": 0, "reason": "x"}, headers=tokyo
        ),
        client.post(
            "/admin/stock/MUG-WHITE/warehouse/adjustments",
            json={"delta": -1, "reason": "x"},
            headers=tokyo,
        ),
        client.patch("/admin/coupons/DEMO5", json={"active": False}, headers=tokyo),
    ]
    assert [r.status_code for r in attempts] == [404, 404, 404, 404]
    # A PUT creates in the caller's own shop, never in another one.
    put = client.put(
        "/admin/products/MUG-WHITE", json={"name": "Tokyo mug", "unit_amount": 900}, headers=tokyo
    )
    assert put.status_code == 201 and put.get_json()["currency"] == "jpy"
    after = db(
        container,
        "SELECT md5(string_agg(t::text, ',' ORDER BY sku)) FROM products t WHERE shop_id='demo'",
    )
    assert after == before
    assert stock_before == db(
        container, "SELECT on_hand FROM inventory_levels WHERE shop_id='demo' AND sku='MUG-WHITE'"
    )
    assert db(container, "SELECT active FROM coupons WHERE shop_id='demo' AND code='DEMO5'")

    # Idempotency keys are per shop: the same key in two shops is two writes.
    body = {"sku": "SAME-1", "name": "Same", "unit_amount": 100}
    one = client.post("/admin/products", json=body, headers={**demo, "Idempotency-Key": "k1"})
    two = client.post("/admin/products", json=body, headers={**tokyo, "Idempotency-Key": "k1"})
    assert (one.status_code, two.status_code) == (201, 201)
    assert "Idempotent-Replayed" not in two.headers
    assert db(container, "SELECT count(*) FROM products WHERE sku = 'SAME-1'") == 2


def test_the_operator_token_acts_for_the_shop_it_names(client: Any, operator: Headers) -> None:
    assert client.get("/admin/products", headers=operator).status_code == 401  # no shop named
    resp = client.get("/admin/products", headers={**operator, "X-Shop-Id": "tokyo"})
    assert resp.status_code == 200
    assert {p["currency"] for p in resp.get_json()["products"]} == {"jpy"}
    assert (
        client.get("/admin/products", headers={**operator, "X-Shop-Id": "nope"}).status_code == 401
    )


def test_apikey_commands(settings: Settings, client: Any) -> None:
    created = run_cli(settings, "apikey", "create", "--shop", "demo", "--name", "warehouse")
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    assert key.startswith("kassa_sk_")
    headers = {"Authorization": f"Bearer {key}"}
    assert client.get("/admin/products", headers=headers).status_code == 200
    key_id = key.split("_")[2]
    listed = run_cli(settings, "apikey", "list", "--shop", "demo")
    assert key_id in listed.stdout and "warehouse" in listed.stdout
    assert key.split(f"{key_id}_", 1)[1] not in listed.stdout
    wrong_shop = run_cli(settings, "apikey", "revoke", key_id, "--shop", "tokyo")
    assert (
        wrong_shop.returncode == 1
        and client.get("/admin/products", headers=headers).status_code == 200
    )
    revoked = run_cli(settings, "apikey", "revoke", key_id, "--shop", "demo")
    assert revoked.returncode == 0, revoked.stderr
    assert client.get("/admin/products", headers=headers).status_code == 401

"""Shops over the operator API and the command line, and their secrets at rest: encrypted,
never returned, never logged, rotatable, and migrated from the old plain-text columns."""

from __future__ import annotations

import logging
import subprocess
import sys
from typing import Any

import psycopg
import pytest
from integration.workers.outbox_support import ROOT, env_for, run_cli
from support import db

from devstack.services import pg_bin
from kassa.bootstrap import Container, bootstrap
from merchant.shops import rotate_secrets
from repos.secrets import dev_key, generate_key
from schemas.settings import Settings

API_KEY = "sk_test_canary_9f8e7d6c5b4a3210"
WEBHOOK_SECRET = "whsec_canary_0a1b2c3d4e5f6789"
NEW_SHOP = {
    "id": "canary",
    "name": "Canary Goods",
    "currency": "eur",
    "storefront_url": "https://canary.example.test",
    "stripe_api_key": API_KEY,
    "stripe_webhook_secret": WEBHOOK_SECRET,
    "capture_mode": "delayed",
    "capture_window_seconds": 7200,
    "hold_ttl_seconds": 1800,
    "checkout_rate_limit": "5/minute",
}


def everything_stored(container: Container) -> str:
    """Every column of every table, as text: what a SELECT * of the database shows."""
    with psycopg.connect(container.settings.database_url) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            ).fetchall()
        ]
        return "\n".join(
            str(conn.execute(f"SELECT string_agg(t::text, E'\\n') FROM \"{t}\" t").fetchone())
            for t in tables
        )


def pg_dump(container: Container) -> str:
    out = subprocess.run(
        [str(pg_bin() / "pg_dump"), "--dbname", container.settings.database_url],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return out.stdout


def test_operator_creates_updates_and_lists_shops(client: Any, operator: dict[str, str]) -> None:
    resp = client.post("/admin/shops", json=NEW_SHOP, headers=operator)
    assert resp.status_code == 201, resp.get_json()
    created = resp.get_json()
    assert created["id"] == "canary" and created["capture_mode"] == "delayed"
    assert created["stripe_api_key_set"] and created["stripe_webhook_secret_set"]
    assert API_KEY not in resp.get_data(as_text=True)
    assert WEBHOOK_SECRET not in resp.get_data(as_text=True)

    again = client.post("/admin/shops", json=NEW_SHOP, headers=operator)
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "shop_exists"

    patched = client.patch(
        "/admin/shops/canary",
        json={"name": "Canary & Co", "hold_ttl_seconds": 7200},
        headers=operator,
    )
    assert patched.status_code == 200
    assert patched.get_json()["name"] == "Canary & Co"
    assert patched.get_json()["hold_ttl_seconds"] == 7200
    assert patched.get_json()["capture_window_seconds"] == 7200  # untouched

    listed = client.get("/admin/shops", headers=operator)
    assert [s["id"] for s in listed.get_json()] == ["canary", "demo", "tokyo"]
    body = listed.get_data(as_text=True)
    assert API_KEY not in body and WEBHOOK_SECRET not in body and "sk_test_kassa_demo" not in body
    assert "ciphertext" not in body

    one = client.get("/admin/shops/canary", headers=operator).get_json()
    assert one["name"] == "Canary & Co" and "stripe_api_key" not in one


def test_shop_input_is_checked_and_changes_nothing(
    client: Any, operator: dict[str, str], container: Container
) -> None:
    cases = [
        ({**NEW_SHOP, "id": "Bad Id!"}, 422),
        ({**NEW_SHOP, "currency": "xyz"}, 422),  # well-formed, unknown
        ({**NEW_SHOP, "stripe_api_key": "not-a-key"}, 422),
        ({**NEW_SHOP, "hold_ttl_seconds": 60}, 422),
        ({**NEW_SHOP, "surprise": 1}, 422),
        # A delayed window must end a day before Stripe drops the 7-day authorization.
        ({**NEW_SHOP, "capture_window_seconds": 6 * 86400 + 1}, 422),
    ]
    for body, status in cases:
        resp = client.post("/admin/shops", json=body, headers=operator)
        assert resp.status_code == status, (body, resp.get_json())
        assert resp.get_json()["error"]["code"] == "invalid_request"
    assert db(container, "SELECT count(*) FROM shops WHERE id = 'canary'") == 0
    assert (
        client.patch("/admin/shops/nope", json={"name": "x"}, headers=operator).status_code == 404
    )
    resp = client.patch("/admin/shops/demo", json={"name": None}, headers=operator)
    assert resp.status_code == 422
    # Switching to delayed capture checks the window the shop already has.
    immediate = {"capture_mode": "immediate", "capture_window_seconds": 7 * 86400}
    assert client.patch("/admin/shops/demo", json=immediate, headers=operator).status_code == 200
    resp = client.patch("/admin/shops/demo", json={"capture_mode": "delayed"}, headers=operator)
    assert (resp.status_code, resp.get_json()["error"]["code"]) == (422, "invalid_request")
    assert db(container, "SELECT capture_mode FROM shops WHERE id='demo'") == "immediate"
    # The demo shop has products in usd: its currency can no longer change.
    resp = client.patch("/admin/shops/demo", json={"currency": "eur"}, headers=operator)
    assert (
        resp.status_code == 422
        and db(container, "SELECT currency FROM shops WHERE id='demo'") == "usd"
    )


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": "Basic dev-admin-token"},
        {"Authorization": "Bearer "},
    ],
)
def test_operator_endpoints_need_the_operator_token(
    client: Any, headers: dict[str, str], key_for: Any
) -> None:
    merchant = key_for("demo")
    for h in (headers, merchant):  # a merchant key is not an operator token either
        assert client.get("/admin/shops", headers=h).status_code == 401
        assert client.post("/admin/shops", json=NEW_SHOP, headers=h).status_code == 401
        assert client.get("/admin/api-keys", headers=h).status_code == 401


def test_secrets_are_encrypted_at_rest_and_never_logged(
    client: Any, operator: dict[str, str], container: Container, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    assert client.post("/admin/shops", json=NEW_SHOP, headers=operator).status_code == 201
    client.patch("/admin/shops/canary", json={"name": "Renamed"}, headers=operator)
    client.get("/admin/shops", headers=operator)
    endpoint = client.post(
        "/admin/webhook-endpoints",
        json={"url": "https://erp.example/hooks"},
        headers={**operator, "X-Shop-Id": "canary"},
    )
    assert endpoint.status_code == 201
    signing_secret = endpoint.get_json()["secret"]

    stored, dump = everything_stored(container), pg_dump(container)
    assert "canary" in stored and "Renamed" in dump  # the shop is there...
    assert "https://erp.example/hooks" in dump  # ...and its webhook endpoint
    for secret in (API_KEY, WEBHOOK_SECRET, "sk_test_kassa_demo", signing_secret):
        assert secret not in stored and secret not in dump  # ...its secrets are not
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert API_KEY not in logged and WEBHOOK_SECRET not in logged and signing_secret not in logged

    with container.uow() as uow:  # and the application reads them back
        shop = uow.shops.get("canary")
    assert shop is not None
    assert (shop.stripe_api_key, shop.stripe_webhook_secret) == (API_KEY, WEBHOOK_SECRET)
    assert API_KEY not in repr(shop)


def test_keys_rotate_and_old_plaintext_rows_are_encrypted(
    client: Any, operator: dict[str, str], container: Container, settings: Settings
) -> None:
    old_key, new_key = generate_key(), generate_key()
    first = f"{old_key},{dev_key(settings.secret_key)}"  # away from the development key
    before = bootstrap(settings.model_copy(update={"encryption_keys": first}))
    try:
        assert rotate_secrets(before) == 2
        with before.uow() as uow:
            uow.shops.set_webhook_secret("demo", WEBHOOK_SECRET)
        # A row as it was before migration 0010: secrets in the plain-text columns.
        with before.uow() as uow:
            uow.conn.execute(
                "UPDATE shops SET plaintext_stripe_api_key = %s,"
                " stripe_api_key_ciphertext = NULL WHERE id = 'tokyo'",
                (API_KEY,),
            )
            tokyo = uow.shops.get("tokyo")
            assert tokyo is not None and tokyo.stripe_api_key == API_KEY
        assert rotate_secrets(before, only_plaintext=True) == 1
        assert db(container, "SELECT plaintext_stripe_api_key FROM shops WHERE id='tokyo'") is None
    finally:
        before.close()

    rotated = bootstrap(settings.model_copy(update={"encryption_keys": f"{new_key},{old_key}"}))
    try:
        assert rotate_secrets(rotated) == 2
    finally:
        rotated.close()
    after = bootstrap(settings.model_copy(update={"encryption_keys": new_key}))  # old key gone
    try:
        with after.uow() as uow:
            demo, tokyo = uow.shops.get("demo"), uow.shops.get("tokyo")
        assert demo is not None and demo.stripe_webhook_secret == WEBHOOK_SECRET
        assert tokyo is not None and tokyo.stripe_api_key == API_KEY
    finally:
        after.close()
    assert API_KEY not in everything_stored(container)


def test_shop_commands(settings: Settings, container: Container) -> None:
    env = {"CANARY_STRIPE_KEY": API_KEY}
    created = run_cli_env(
        settings,
        env,
        "shop", "create", "canary", "--name", "Canary", "--currency", "gbp",
        "--storefront-url", "https://canary.example.test", "--stripe-api-key-env",
        "CANARY_STRIPE_KEY",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    assert "canary" in created.stdout and API_KEY not in created.stdout + created.stderr
    updated = run_cli(
        settings, "shop", "update", "canary", "--capture-mode", "delayed",
        "--low-stock-threshold", "4",
    )  # fmt: skip
    assert updated.returncode == 0, updated.stderr
    assert db(container, "SELECT low_stock_threshold FROM shops WHERE id = 'canary'") == 4
    listed = run_cli(settings, "shop", "list")
    assert "canary" in listed.stdout and "delayed" in listed.stdout and API_KEY not in listed.stdout
    again = run_cli_env(
        settings, env, "shop", "create", "canary", "--name", "C", "--currency", "gbp",
        "--storefront-url", "https://c.test", "--stripe-api-key-env", "CANARY_STRIPE_KEY",
    )  # fmt: skip
    assert again.returncode == 1 and "shop_exists" in again.stderr
    rotated = run_cli(settings, "shop", "rotate-secrets")
    assert rotated.returncode == 0 and "3 shop(s)" in rotated.stdout
    assert API_KEY not in everything_stored(container)


def run_cli_env(settings: Settings, extra: dict[str, str], *args: str) -> Any:
    return subprocess.run(
        [sys.executable, "-m", "ops.cli", *args],
        cwd=ROOT,
        env={**env_for(settings), **extra},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_kassa_migrate_encrypts_secrets_left_in_clear(
    settings: Settings, container: Container
) -> None:
    with psycopg.connect(container.settings.database_url) as conn:
        conn.execute(
            "UPDATE shops SET plaintext_stripe_api_key = %s, stripe_api_key_ciphertext = NULL,"
            " plaintext_stripe_webhook_secret = %s WHERE id = 'demo'",
            (API_KEY, WEBHOOK_SECRET),
        )
    assert API_KEY in everything_stored(container)
    result = run_cli(settings, "migrate")
    assert result.returncode == 0, result.stderr
    assert "encrypted the secrets of 1 shop(s)" in result.stdout
    stored = everything_stored(container)
    assert API_KEY not in stored and WEBHOOK_SECRET not in stored
    with container.uow() as uow:
        demo = uow.shops.get("demo")
    assert demo is not None
    assert (demo.stripe_api_key, demo.stripe_webhook_secret) == (API_KEY, WEBHOOK_SECRET)

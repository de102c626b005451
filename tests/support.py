"""Small helpers that let tests read like a storefront's story."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import psycopg
import requests
import stripe


def emulator_state(emulator_url: str) -> dict[str, Any]:
    data: dict[str, Any] = requests.get(f"{emulator_url}/_emulator/state", timeout=5).json()
    return data


def sessions_created(emulator_url: str, api_key: str = "sk_test_kassa_demo") -> int:
    account = emulator_state(emulator_url)["accounts"].get(api_key, {})
    return int(account.get("checkout_sessions", 0))


def inject_fault(
    emulator_url: str, path_prefix: str, status: int, count: int, method: str = "POST"
) -> None:
    requests.post(
        f"{emulator_url}/_emulator/faults",
        json={"method": method, "path_prefix": path_prefix, "status": status, "count": count},
        timeout=5,
    ).raise_for_status()


def sql_one(database_url: str, query: str, *params: object) -> Any:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(query, params).fetchone()
    return row[0] if row else None


def db(container: Any, query: str, *params: object) -> Any:
    """The first column of the first row, read outside the app, as an auditor would."""
    return sql_one(container.settings.database_url, query, *params)


class Storefront:
    """A browser-like client of one shop's API (Flask test client or a requests.Session)."""

    def __init__(self, client: Any, shop: str = "demo") -> None:
        self.client = client
        self.headers = {"X-Shop-Id": shop}

    def add(self, sku: str, quantity: int = 1) -> Any:
        return self.client.post(
            "/api/cart/items", json={"sku": sku, "quantity": quantity}, headers=self.headers
        )

    def cart(self) -> Any:
        return self.client.get("/api/cart", headers=self.headers)

    def set_quantity(self, line_key: str, quantity: int) -> Any:
        return self.client.patch(
            f"/api/cart/items/{line_key}", json={"quantity": quantity}, headers=self.headers
        )

    def checkout(self, body: dict[str, Any] | None = None, key: str | None = None) -> Any:
        headers = {**self.headers, **({"Idempotency-Key": key} if key else {})}
        return self.client.post("/api/checkout", json=body or {}, headers=headers)

    def status(self, checkout_id: str) -> Any:
        return self.client.get(f"/api/checkout/{checkout_id}/status", headers=self.headers)


def api_checkout(
    live_server: str, sku: str = "MUG-WHITE", quantity: int = 2, key: str = "k1"
) -> dict[str, Any]:
    resp = requests.post(
        f"{live_server}/api/checkout",
        json={"lines": [{"sku": sku, "quantity": quantity}]},
        headers={"X-Shop-Id": "demo", "Idempotency-Key": key},
        timeout=30,
    )
    assert resp.status_code == 201, resp.text
    body: dict[str, Any] = resp.json()
    return body


def signed_post(
    live_server: str,
    secret: str,
    event: dict[str, Any],
    shop: str = "demo",
    signed_at: int | None = None,
) -> requests.Response:
    """Posted as Stripe would, signed now or at ``signed_at`` (a Unix time)."""
    payload = json.dumps(event)
    header = (
        stripe.WebhookSignature.generate_signature_header(payload, secret, signed_at)
        if secret
        else "t=1,v1=00"
    )
    return requests.post(
        f"{live_server}/webhooks/stripe/{shop}",
        data=payload,
        headers={"Stripe-Signature": header, "Content-Type": "application/json"},
        timeout=10,
    )


def session_event(
    session: dict[str, Any],
    event_type: str = "checkout.session.completed",
    event_id: str = "evt_test_1",
) -> dict[str, Any]:
    return {
        "id": event_id,
        "object": "event",
        "type": event_type,
        "created": int(time.time()),
        "data": {"object": session},
    }


def lapse(container: Any, checkout_id: str) -> None:
    """The hold runs out and the reaper passes, as it would an hour after the checkout."""
    with container.uow() as uow:
        uow.conn.execute(
            "UPDATE inventory_holds SET expires_at = now() - interval '1 minute'"
            " WHERE checkout_id = %s",
            (checkout_id,),
        )
    from checkout.reaper import reap

    assert reap(container, datetime.now(UTC)) == 1
    assert db(container, "SELECT state FROM checkouts WHERE id = %s", checkout_id) == "expired"


CANARY_CUSTOMER = {
    "email": "canary.buyer@example-shop.test",
    "name": "Canary Buyerson",
    "address": {
        "line1": "7 Canary Row",
        "city": "Canaryville",
        "postal_code": "CN1 4RY",
        "country": "GB",
    },
}


def pay(
    emulator_url: str,
    session_id: str,
    outcome: str = "paid",
    customer: dict[str, Any] | None = None,
) -> Any:
    resp = requests.post(
        f"{emulator_url}/_emulator/checkout/sessions/{session_id}/complete",
        json={"outcome": outcome, "customer": customer or CANARY_CUSTOMER},
        timeout=10,
    )
    resp.raise_for_status()
    return resp.json()


def settle(emulator_url: str, session_id: str, result: str) -> None:
    requests.post(
        f"{emulator_url}/_emulator/checkout/sessions/{session_id}/async",
        json={"result": result},
        timeout=10,
    ).raise_for_status()


def webhook_mode(emulator_url: str, **mode: Any) -> None:
    requests.post(
        f"{emulator_url}/_emulator/webhooks/mode", json=mode, timeout=5
    ).raise_for_status()

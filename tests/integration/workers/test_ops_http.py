"""``/ops/outbox`` lists rows and replays dead ones, only for the bearer of the admin token."""

from __future__ import annotations

from typing import Any

from integration.workers.outbox_support import Orders

from kassa.bootstrap import Container
from schemas.outbox import CartClear
from schemas.settings import Settings


def dead_row(container: Container, orders: Orders, key: str) -> int:
    row = orders.queue(CartClear(shop_id="demo", cart_id="c1"), key)
    with container.uow() as uow:
        uow.outbox.record_failure(row.id, "ConnectionError", dead=True)
    return row.id


def auth(settings: Settings) -> dict[str, str]:
    return {"Authorization": f"Bearer {settings.admin_token}"}


def assert_unauthorized(resp: Any) -> None:
    assert resp.status_code == 401
    assert resp.get_json()["error"]["code"] == "unauthorized"


def test_listing_needs_the_token(
    client: Any, container: Container, settings: Settings, orders: Orders
) -> None:
    row_id = dead_row(container, orders, "cart-a-clear")
    assert_unauthorized(client.get("/ops/outbox?state=dead"))
    assert_unauthorized(client.get("/ops/outbox", headers={"Authorization": "Bearer nope"}))
    assert_unauthorized(client.get("/ops/outbox", headers={"Authorization": settings.admin_token}))

    resp = client.get("/ops/outbox?state=dead", headers=auth(settings))
    assert resp.status_code == 200
    [entry] = resp.get_json()
    assert entry["id"] == row_id and entry["kind"] == "cart.clear"
    assert entry["state"] == "dead" and entry["attempts"] == 1
    assert entry["last_error"] == "ConnectionError" and entry["dedupe_key"] == "cart-a-clear"
    assert set(entry) == {
        "id",
        "shop_id",
        "kind",
        "dedupe_key",
        "state",
        "attempts",
        "last_error",
        "created_at",
    }
    assert client.get("/ops/outbox?state=pending", headers=auth(settings)).get_json() == []
    bad = client.get("/ops/outbox?state=lost", headers=auth(settings))
    assert bad.status_code == 422 and bad.get_json()["error"]["code"] == "invalid_request"


def test_replay_over_http(
    client: Any, container: Container, settings: Settings, orders: Orders
) -> None:
    row_id = dead_row(container, orders, "cart-b-clear")
    assert_unauthorized(client.post(f"/ops/outbox/{row_id}/replay"))
    assert orders.row(row_id).state == "dead"

    resp = client.post(f"/ops/outbox/{row_id}/replay", headers=auth(settings))
    assert resp.status_code == 200 and resp.get_json() == {"replayed": [row_id]}
    row = orders.row(row_id)
    assert (row.state, row.attempts) == ("pending", 0)

    again = client.post(f"/ops/outbox/{row_id}/replay", headers=auth(settings))
    assert again.status_code == 404 and again.get_json()["error"]["code"] == "not_found"
    assert client.post("/ops/outbox/424242/replay", headers=auth(settings)).status_code == 404


def test_ops_endpoints_are_documented(client: Any) -> None:
    paths = client.get("/openapi.json").get_json()["paths"]
    assert "401" in paths["/ops/outbox"]["get"]["responses"]
    assert "404" in paths["/ops/outbox/{row_id}/replay"]["post"]["responses"]

"""Every answer, good or bad, is in the contract's shape; nothing leaks a stack trace."""

from __future__ import annotations

from typing import Any

import pytest

from kassa.bootstrap import Container
from ops.seed import seed_shop_in


@pytest.fixture(autouse=True)
def demo(container: Container) -> None:
    with container.uow() as uow:
        seed_shop_in(uow, "demo", container.settings)


def assert_error(resp: Any, status: int, code: str) -> None:
    assert resp.status_code == status, resp.get_data(as_text=True)
    body = resp.get_json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert "Traceback" not in resp.get_data(as_text=True)


def test_health_and_readiness(client: Any) -> None:
    assert client.get("/healthz").get_json() == {"status": "ok", "checks": {}}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json()["checks"] == {"postgres": "ok", "redis": "ok"}


def test_readiness_fails_when_redis_is_unreachable(container: Container, client: Any) -> None:
    import redis

    container.redis = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    resp = client.get("/readyz")
    assert resp.status_code == 503
    assert resp.get_json()["checks"]["postgres"] == "ok"
    assert resp.get_json()["checks"]["redis"].startswith("unavailable")


def test_unknown_route_answers_in_error_shape(client: Any) -> None:
    assert_error(client.get("/no/such/route"), 404, "not_found")
    assert_error(client.delete("/healthz"), 405, "method_not_allowed")


def test_missing_and_unknown_shop(client: Any) -> None:
    assert_error(client.get("/api/products"), 400, "shop_required")
    assert_error(client.get("/api/products", headers={"X-Shop-Id": "nope"}), 404, "shop_not_found")


def test_request_id_is_echoed_or_generated(client: Any) -> None:
    assert (
        client.get("/healthz", headers={"X-Request-Id": "abc-1"}).headers["X-Request-Id"] == "abc-1"
    )
    generated = client.get("/healthz").headers["X-Request-Id"]
    assert len(generated) == 32


def test_metrics_and_openapi(client: Any) -> None:
    client.get("/healthz")
    metrics = client.get("/metrics").get_data(as_text=True)
    assert "kassa_http_requests_total" in metrics
    assert "kassa_hold_transitions_total" in metrics and "kassa_webhooks_total" in metrics
    spec = client.get("/openapi.json").get_json()
    assert spec["openapi"].startswith("3.1")
    assert "/readyz" in spec["paths"]
    assert "ErrorResponse" in spec["components"]["schemas"]

"""Fixtures for the merchant API: two seeded shops, the operator's headers, a factory of
API keys created through the operator API itself, and orders from real purchases."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from support import api_checkout, db, pay

from devstack.processes import wait_for
from kassa.bootstrap import Container
from ops.seed import seed_shop_in
from stripe_emulator.server import EmulatorServer

Headers = dict[str, str]


@pytest.fixture(autouse=True)
def two_shops(container: Container) -> None:
    with container.uow() as uow:
        seed_shop_in(uow, "demo", container.settings, stripe_api_key="sk_test_kassa_demo")
        seed_shop_in(
            uow, "tokyo", container.settings, currency="jpy", stripe_api_key="sk_test_kassa_tokyo"
        )


@pytest.fixture
def operator(container: Container) -> Headers:
    return {"Authorization": f"Bearer {container.settings.admin_token}"}


@pytest.fixture
def key_for(client: Any, operator: Headers) -> Callable[..., Headers]:
    """Create an API key for a shop over the operator API; returns merchant headers."""

    def create(shop: str = "demo", name: str = "test key") -> Headers:
        resp = client.post(
            "/admin/api-keys", json={"shop_id": shop, "name": name}, headers=operator
        )
        assert resp.status_code == 201, resp.get_json()
        return {"Authorization": f"Bearer {resp.get_json()['key']}"}

    return create


@pytest.fixture
def bought(
    shop_secret: str, live_server: str, container: Container, emulator: EmulatorServer
) -> Callable[..., dict[str, Any]]:
    """A shopper buys; returns the checkout answer and the order's reference."""

    def buy(sku: str = "MUG-WHITE", quantity: int = 2, key: str = "k1") -> dict[str, Any]:
        co = api_checkout(live_server, sku, quantity, key=key)
        pay(emulator.url, co["session_id"])
        ref = wait_for(
            lambda: db(
                container, "SELECT reference FROM orders WHERE checkout_id = %s", co["checkout_id"]
            )
        )
        return {**co, "reference": ref}

    return buy

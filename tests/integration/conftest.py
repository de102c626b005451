"""Fixtures of the integration tests that need a whole shop behind a live server."""

from __future__ import annotations

import pytest

from kassa.bootstrap import Container
from ops.seed import seed_shop_in

DEMO_KEY = "sk_test_kassa_demo"


@pytest.fixture
def shop_secret(container: Container, live_server: str) -> str:
    """Both shops seeded; demo's webhook endpoint registered with the emulator, as `kassa dev` does."""
    with container.uow() as uow:
        seed_shop_in(uow, "demo", container.settings, stripe_api_key=DEMO_KEY)
        seed_shop_in(
            uow, "tokyo", container.settings, currency="jpy", stripe_api_key="sk_test_kassa_tokyo"
        )
    secret = container.payments.register_webhook(DEMO_KEY, f"{live_server}/webhooks/stripe/demo")
    with container.uow() as uow:
        uow.shops.set_webhook_secret("demo", secret)
    return secret

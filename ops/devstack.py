"""What ``kassa dev`` sets up around the backing services: migrations, demo shops, the Stripe
emulator with a webhook endpoint per shop, and the relay and worker processes."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Protocol

from kassa.bootstrap import bootstrap
from kassa.runtime import free_port
from ops.seed import seed_shop
from repos.migrations import migrate
from schemas.settings import Settings

DEV_SHOPS = {"demo": ("usd", "Kassa Demo Shop"), "tokyo": ("jpy", "Kassa Tokyo")}

Step = Callable[[str], Callable[[], None]]


class Spawner(Protocol):
    def spawn(self, name: str, *args: str) -> object: ...


def prepare(
    env: dict[str, str], sup: Spawner, step: Step, wait_http: Callable[[str], None]
) -> None:
    """Mutates ``env`` (shared with the supervisor) so later children see the same URLs."""
    done = step("migrations")
    migrate(env["DATABASE_URL"])
    done()
    use_emulator = "STRIPE_API_BASE" not in os.environ
    if use_emulator:
        port = free_port()
        done = step(f"Stripe emulator on 127.0.0.1:{port}")
        env["STRIPE_API_BASE"] = f"http://127.0.0.1:{port}"
        sup.spawn("emulator", "emulator", "--port", str(port))
        wait_http(f"{env['STRIPE_API_BASE']}/_emulator/state")
        done()
    settings = settings_from(env)
    done = step("seed shops " + ", ".join(DEV_SHOPS))
    c = bootstrap(settings)
    try:
        for shop_id, (currency, name) in DEV_SHOPS.items():
            # With the emulator every shop is its own Stripe account, so each webhook
            # endpoint receives only its own shop's events.
            key = f"sk_test_kassa_{shop_id}" if use_emulator else settings.stripe_api_key
            with c.uow() as uow:
                seed_shop(uow, shop_id, settings, currency=currency, name=name, stripe_api_key=key)
            if use_emulator:
                url = f"{settings.public_url}/webhooks/stripe/{shop_id}"
                secret = c.payments.register_webhook(key, url)
                with c.uow() as uow:
                    uow.shops.set_webhook_secret(shop_id, secret)
    finally:
        c.close()
    done()
    done = step("outbox relay and worker")
    sup.spawn("relay", "relay")
    sup.spawn("worker", "worker")
    done()


def settings_from(env: dict[str, str]) -> Settings:
    """Settings as the child processes will see them (pydantic-settings reads os.environ)."""
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        return Settings()
    finally:
        os.environ.clear()
        os.environ.update(saved)

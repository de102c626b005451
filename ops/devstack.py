"""What ``kassa dev`` sets up between the backing services and the web process."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Protocol

from kassa.bootstrap import bootstrap
from ops.seed import seed_shop
from repos.migrations import migrate
from schemas.settings import Settings

DEV_SHOPS = {"demo": "usd", "tokyo": "jpy"}


class Spawner(Protocol):
    def spawn(self, name: str, *args: str) -> object: ...


def prepare(
    env: dict[str, str], sup: Spawner, step: Callable[[str], Callable[[], None]]
) -> dict[str, str]:
    """Migrate, seed, and start the helper processes; returns env additions for the children."""
    done = step("migrations")
    migrate(env["DATABASE_URL"])
    done()
    settings = settings_from(env)
    done = step("seed shops " + ", ".join(DEV_SHOPS))
    c = bootstrap(settings)
    try:
        with c.uow() as uow:
            for shop_id, currency in DEV_SHOPS.items():
                seed_shop(
                    uow,
                    shop_id,
                    settings,
                    currency=currency,
                    name="Kassa Demo Shop" if shop_id == "demo" else "Kassa Tokyo",
                    stripe_api_key=f"sk_test_kassa_{shop_id}",
                )
    finally:
        c.close()
    done()
    return {}


def settings_from(env: dict[str, str]) -> Settings:
    """Settings as the child processes will see them (pydantic-settings reads os.environ)."""
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        return Settings()
    finally:
        os.environ.clear()
        os.environ.update(saved)

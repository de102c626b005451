"""The composition root: the one place that builds real dependencies from settings.

Web, workers, relay and the command line all start here; tests build the same graph
against their own servers. Nothing opens a connection at import time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import redis

from checkout.shop_cache import ShopCache
from kassa.stripe_gateway import StripeGateway
from repos.carts import CartStore
from repos.database import Database
from repos.secrets import SecretBox
from repos.stock_mirror import StockMirror
from repos.unit_of_work import UnitOfWork
from schemas.settings import Settings


@dataclass
class Container:
    settings: Settings
    db: Database
    redis: redis.Redis
    payments: StripeGateway
    carts: CartStore
    mirror: StockMirror
    secrets: SecretBox
    shop_cache: ShopCache
    _closed: bool = field(default=False, repr=False)

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.db, self.secrets, self.shop_cache.forget)

    def close(self) -> None:
        if not self._closed:
            self.db.close()
            self.redis.close()
            self._closed = True


def bootstrap(settings: Settings | None = None) -> Container:
    settings = settings or Settings()
    db = Database(
        settings.database_url, max_size=settings.db_pool_max, timeout=settings.db_pool_timeout
    ).open()
    client = redis.Redis.from_url(
        settings.redis_url, socket_timeout=2, socket_connect_timeout=2, health_check_interval=10
    )
    return Container(
        settings=settings,
        db=db,
        redis=client,
        payments=StripeGateway(
            settings.stripe_api_base,
            max_retries=settings.stripe_max_retries,
            timeout=settings.stripe_timeout_seconds,
        ),
        carts=CartStore(client, settings.cart_ttl_seconds),
        mirror=StockMirror(client),
        secrets=SecretBox.from_setting(settings.encryption_keys, settings.secret_key),
        shop_cache=ShopCache(settings.shop_cache_seconds),
    )

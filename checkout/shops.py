"""Looking up a shop: the one read that every request, webhook and command starts with.

It is cached per process (``checkout.shop_cache``) because it would otherwise cost every request a
pooled connection, a transaction and two decryptions for a row that changes a few times a
year. A change made in this process is seen at once (the unit of work tells the cache
after its commit); one made by another process within ``KASSA_SHOP_CACHE_SECONDS``.
"""

from __future__ import annotations

from checkout.errors import ShopNotFound
from checkout.ports import Services
from schemas.records import Shop


def shop_by_id(services: Services, shop_id: str) -> Shop | None:
    def load() -> Shop | None:
        with services.uow() as uow:
            return uow.shops.get(shop_id)

    return services.shop_cache.get(shop_id, load)


def known_shop(services: Services, shop_id: str) -> Shop:
    """The shop, or ``ShopNotFound`` (a 404 at the edge)."""
    shop = shop_by_id(services, shop_id)
    if shop is None:
        raise ShopNotFound()
    return shop


def connect_webhook_secret(services: Services, shop_id: str, secret: str) -> None:
    """Store the signing secret of the shop's Stripe webhook endpoint (``kassa dev``,
    ``kassa seed --register-webhook``)."""
    with services.uow() as uow:
        uow.shops.set_webhook_secret(shop_id, secret)


def currency_exponents(services: Services) -> dict[str, int]:
    """Minor-unit exponents of every currency (the ``currencies`` table)."""
    with services.uow() as uow:
        return uow.shops.currency_exponents()

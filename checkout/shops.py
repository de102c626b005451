"""Looking up a shop: the one read that every request, webhook and command starts with."""

from __future__ import annotations

from checkout.errors import ShopNotFound
from checkout.ports import Services
from schemas.records import Shop


def shop_by_id(services: Services, shop_id: str) -> Shop | None:
    with services.uow() as uow:
        return uow.shops.get(shop_id)


def known_shop(services: Services, shop_id: str) -> Shop:
    """The shop, or ``ShopNotFound`` (a 404 at the edge)."""
    shop = shop_by_id(services, shop_id)
    if shop is None:
        raise ShopNotFound()
    return shop


def connect_webhook_secret(services: Services, shop_id: str, secret: str) -> None:
    """Store the signing secret of the shop's Stripe webhook endpoint (``kassa dev``)."""
    with services.uow() as uow:
        uow.shops.set_webhook_secret(shop_id, secret)


def currency_exponents(services: Services) -> dict[str, int]:
    """Minor-unit exponents of every currency (the ``currencies`` table)."""
    with services.uow() as uow:
        return uow.shops.currency_exponents()

"""Shops for operators: create, change, list, and re-encrypt their secrets.

The Stripe key and webhook secret go in here and are encrypted by the shop repository;
no answer of this module carries them back (``ShopView`` says only whether each is set).
Audit rows name the fields that changed, never their secret values.
"""

from __future__ import annotations

import logging

from checkout.errors import InvalidRequest, ShopExists, ShopNotFound
from checkout.ports import Services
from checkout.validation import validate
from repos.unit_of_work import UnitOfWork
from schemas.merchant import ShopCreate, ShopSettingsPatch, ShopView
from schemas.records import Shop

log = logging.getLogger(__name__)

OPERATOR = "operator"


def view_of(shop: Shop) -> ShopView:
    return ShopView.model_validate(
        {**shop.model_dump(), "stripe_webhook_secret_set": shop.stripe_webhook_secret is not None}
    )


def _check_currency_in(uow: UnitOfWork, shop_id: str, currency: str, changing: bool) -> None:
    if uow.shops.currency_exponent(currency) is None:
        raise InvalidRequest(f"Unknown currency {currency!r}.", details={"field": "currency"})
    if changing and uow.catalog.product_page(shop_id, None, 1):
        raise InvalidRequest(
            "The currency cannot change once the shop has products.",
            details={"field": "currency"},
        )


def _settings(patch: ShopSettingsPatch) -> dict[str, object]:
    values = patch.model_dump(exclude_unset=True, exclude={"id"})
    if values.get("storefront_url") is not None:
        values["storefront_url"] = str(values["storefront_url"])
    return values


def create_shop(services: Services, body: ShopCreate, actor: str = OPERATOR) -> ShopView:
    values = _settings(body)
    shop = validate(
        Shop,
        {
            "id": body.id,
            "hold_ttl_seconds": 3600,
            "capture_mode": "immediate",
            "capture_window_seconds": 3600,
            "checkout_rate_limit": None,
            "stripe_webhook_secret": None,
            **values,
        },
    )
    with services.uow() as uow:
        _check_currency_in(uow, shop.id, shop.currency, changing=False)
        if not uow.shops.insert(shop):
            raise ShopExists()
        uow.audit.add(
            shop.id, "operator.shop_created", shop.id, {"fields": [*sorted(values)]}, actor
        )
    log.info("shop created", extra={"shop_id": shop.id})
    return view_of(shop)


def update_shop(
    services: Services, shop_id: str, patch: ShopSettingsPatch, actor: str = OPERATOR
) -> ShopView:
    values = _settings(patch)
    with services.uow() as uow:
        current = uow.shops.get(shop_id, lock=True)
        if current is None:
            raise ShopNotFound()
        # A required setting sent as null fails here, like any other bad value.
        shop = validate(Shop, {**current.model_dump(), **values})
        if shop.currency != current.currency:
            _check_currency_in(uow, shop_id, shop.currency, changing=True)
        uow.shops.upsert(shop)
        uow.audit.add(
            shop_id, "operator.shop_updated", shop_id, {"fields": [*sorted(values)]}, actor
        )
    return view_of(shop)


def get_shop(services: Services, shop_id: str) -> ShopView:
    with services.uow() as uow:
        shop = uow.shops.get(shop_id)
    if shop is None:
        raise ShopNotFound()
    return view_of(shop)


def list_shops(services: Services) -> list[ShopView]:
    """Without decrypting anything: the list needs no secret, only whether one is set."""
    with services.uow() as uow:
        profiles = uow.shops.profiles()
    return [
        ShopView.model_validate({**p.model_dump(), "stripe_webhook_secret_set": has_secret})
        for p, has_secret in profiles
    ]


def rotate_secrets(services: Services, *, only_plaintext: bool = False) -> int:
    """Re-encrypt every shop's secrets under the first configured key (and encrypt any
    value left in clear by migration 0010). Run after putting a new key first in
    KASSA_ENCRYPTION_KEYS; the old key can go once this has finished. ``only_plaintext``
    (what ``kassa migrate`` runs) encrypts the values still in clear and nothing else."""
    with services.uow() as uow:
        count = uow.shops.reencrypt(only_plaintext=only_plaintext)
    if count:
        log.info("shop secrets encrypted", extra={"shops": count})
    return count

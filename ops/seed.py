"""The demo catalog: enough to show variants, low stock, several locations and zero-decimal money."""

from __future__ import annotations

from typing import Any, Literal

from checkout.reconcile import reconcile_mirror
from checkout.shops import connect_webhook_secret, known_shop
from kassa.bootstrap import Container
from repos.unit_of_work import UnitOfWork
from schemas.records import Coupon, InventoryLevel, Product, ShippingOption, Shop
from schemas.settings import Settings

# (sku, product_code, name, attributes, unit_amount, stock per location)
DEMO_PRODUCTS: list[tuple[str, str, str, dict[str, str], int, dict[str, int]]] = [
    (
        "TSHIRT-RED-M",
        "TSHIRT",
        "Kassa T-shirt",
        {"colour": "red", "size": "M"},
        2500,
        {"warehouse": 20, "store": 5},
    ),
    (
        "TSHIRT-BLUE-M",
        "TSHIRT",
        "Kassa T-shirt",
        {"colour": "blue", "size": "M"},
        2500,
        {"warehouse": 20, "store": 5},
    ),
    (
        "TSHIRT-BLUE-L",
        "TSHIRT",
        "Kassa T-shirt",
        {"colour": "blue", "size": "L"},
        2700,
        {"warehouse": 10},
    ),
    ("MUG-WHITE", "MUG", "Enamel mug", {"colour": "white"}, 1200, {"warehouse": 50}),
    ("POSTER-A2", "POSTER", "Limited poster", {"size": "A2"}, 4000, {"store": 3}),
    ("STICKERS", "STICKERS", "Sticker pack", {}, 300, {"warehouse": 200, "store": 50}),
]
LOCATION_PRIORITY = {"warehouse": 1, "store": 2}

JPY_PRODUCTS: list[tuple[str, str, str, dict[str, str], int, dict[str, int]]] = [
    ("TENUGUI-INDIGO", "TENUGUI", "Tenugui towel", {"colour": "indigo"}, 1500, {"tokyo": 30}),
    ("MATCHA-50G", "MATCHA", "Matcha 50 g", {}, 2800, {"tokyo": 12}),
]


def seed_shop_in(
    uow: UnitOfWork,
    shop_id: str,
    settings: Settings,
    *,
    currency: str = "usd",
    name: str = "Kassa Demo Shop",
    capture_mode: Literal["immediate", "delayed"] = "immediate",
    stripe_api_key: str | None = None,
) -> None:
    """Create or refresh a shop and its catalog; stock is set only where none exists yet, so
    re-seeding never fights live holds."""
    products = JPY_PRODUCTS if currency == "jpy" else DEMO_PRODUCTS
    stocked = {(lv.sku, lv.location) for lv in uow.inventory.levels(shop_id)}
    uow.stock_ledger.label("seed", "seed")
    uow.shops.upsert(
        Shop(
            id=shop_id,
            name=name,
            currency=currency,
            stripe_api_key=stripe_api_key or settings.stripe_api_key,
            stripe_webhook_secret=settings.stripe_webhook_secret,
            storefront_url=settings.public_url,
            hold_ttl_seconds=3600,
            capture_mode=capture_mode,
            capture_window_seconds=3600,
            checkout_rate_limit=None,
        )
    )
    for sku, code, pname, attrs, amount, stock in products:
        uow.catalog.upsert_product(
            Product(
                shop_id=shop_id,
                sku=sku,
                product_code=code,
                name=pname,
                attributes=attrs,
                unit_amount=amount,
                currency=currency,
                active=True,
            )
        )
        for location, on_hand in stock.items():
            if (sku, location) in stocked:
                continue
            uow.inventory.set_level(
                shop_id,
                InventoryLevel(
                    sku=sku,
                    location=location,
                    priority=LOCATION_PRIORITY.get(location, 1),
                    on_hand=on_hand,
                    reserved=0,
                ),
            )
    standard = 500 if currency != "jpy" else 600
    uow.catalog.upsert_shipping_option(
        shop_id, ShippingOption(id="standard", name="Standard", amount=standard)
    )
    uow.catalog.upsert_shipping_option(
        shop_id, ShippingOption(id="pickup", name="Pick up in store", amount=0)
    )
    uow.catalog.upsert_coupon(shop_id, Coupon(code="WELCOME10", percent_off=10, amount_off=None))


def seed_and_mirror(container: Container, shop_id: str, **options: Any) -> None:
    """Seed a shop, then bring its Redis stock mirror in step with Postgres, so a fresh stack's
    ``kassa reconcile`` finds no drift. The mirror is filled by reconcile's own repair, which
    also keeps an in-flight decrement from being applied twice on a re-seed."""
    with container.uow() as uow:
        seed_shop_in(uow, shop_id, container.settings, **options)
    reconcile_mirror(container, shop_id, finding=False)


def register_webhook_endpoint(container: Container, shop_id: str, web_url: str) -> str:
    """Register ``<web_url>/webhooks/stripe/<shop>`` with the shop's Stripe account (its own
    key) and store the endpoint's signing secret, so that payments become orders by webhook
    as they happen, not at the next reconciliation. For the emulator and test mode (``kassa
    dev``, ``kassa seed --register-webhook``); ``web_url`` is where Stripe reaches Kassa,
    which in a container network is not the public URL. Returns the endpoint's URL."""
    url = f"{web_url.rstrip('/')}/webhooks/stripe/{shop_id}"
    secret = container.payments.register_webhook(known_shop(container, shop_id).stripe_api_key, url)
    connect_webhook_secret(container, shop_id, secret)
    return url

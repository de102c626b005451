"""What Kassa sends Stripe for a checkout: built from the stored snapshot alone, identifiers
only in metadata, and an amount that is exactly the one Kassa computed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from checkout.sessions import session_config
from schemas.records import CheckoutRecord, PricedLine, Shop

CHECKOUT_ID = UUID("00000000-0000-4000-8000-00000000abcd")
SHOP = Shop(
    id="demo",
    name="Demo",
    currency="usd",
    stripe_api_key="sk_test_x",
    stripe_webhook_secret=None,
    storefront_url="https://shop.example/",
    hold_ttl_seconds=3600,
    capture_mode="immediate",
    capture_window_seconds=3600,
    checkout_rate_limit=None,
)
TEE = PricedLine(
    sku="TEE-BLUE-L",
    name="Kassa T-shirt",
    variant="colour=blue,size=L",
    quantity=2,
    unit_amount=2700,
    line_total=5400,
)
MUG = PricedLine(
    sku="MUG", name="Enamel mug", variant="", quantity=1, unit_amount=1200, line_total=1200
)


def checkout(**changes: Any) -> CheckoutRecord:
    base: dict[str, Any] = dict(
        id=CHECKOUT_ID,
        shop_id="demo",
        idempotency_key="k",
        cart_hash="h",
        cart_id="cart-1",
        lines=[TEE, MUG],
        subtotal=6600,
        discount=0,
        shipping=500,
        total=7100,
        currency="usd",
        shipping_option_id="standard",
        coupon_code=None,
        capture_method="automatic",
        state="pending",
        stripe_session_id=None,
        stripe_session_url=None,
        expires_at=datetime(2026, 11, 30, 12, 0, tzinfo=UTC),
        nonce_hash="n",
        created_at=datetime(2026, 11, 30, 11, 0, tzinfo=UTC),
    )
    return CheckoutRecord(**{**base, **changes})


def test_lines_carry_the_variant_and_shipping_is_its_own_line() -> None:
    config = session_config(SHOP, checkout(), "ada@example.com")
    assert [
        (i.price_data.product_data["name"], i.price_data.unit_amount, i.quantity)
        for i in config.line_items
    ] == [
        ("Kassa T-shirt (colour=blue,size=L)", 2700, 2),
        ("Enamel mug", 1200, 1),
        ("Shipping", 500, 1),
    ]
    assert sum(i.price_data.unit_amount * i.quantity for i in config.line_items) == 7100
    assert config.customer_email == "ada@example.com"


def test_metadata_holds_identifiers_only_and_urls_carry_no_secret() -> None:
    config = session_config(SHOP, checkout(), None)
    ids = {"shop_id": "demo", "checkout_id": str(CHECKOUT_ID)}
    assert config.metadata == ids and config.payment_intent_data == {"metadata": ids}
    assert config.client_reference_id == str(CHECKOUT_ID)
    assert config.success_url == f"https://shop.example/checkout/success?checkout_id={CHECKOUT_ID}"
    assert config.cancel_url == f"https://shop.example/cart?cancelled={CHECKOUT_ID}"
    assert config.expires_at == int(datetime(2026, 11, 30, 12, 0, tzinfo=UTC).timestamp())


def test_manual_capture_and_free_shipping() -> None:
    config = session_config(SHOP, checkout(capture_method="manual", shipping=0, total=6600), None)
    assert config.payment_intent_data["capture_method"] == "manual"
    assert [i.price_data.product_data["name"] for i in config.line_items][-1] == "Enamel mug"


def test_a_discounted_cart_is_one_line_of_the_exact_total() -> None:
    config = session_config(SHOP, checkout(discount=660, total=6440, coupon_code="WELCOME10"), None)
    [line] = config.line_items
    assert (line.price_data.unit_amount, line.quantity) == (6440, 1)
    assert line.price_data.product_data["name"] == (
        "2 x Kassa T-shirt (colour=blue,size=L), 1 x Enamel mug (coupon WELCOME10)"
    )


def test_the_same_snapshot_gives_byte_identical_parameters() -> None:
    first = session_config(SHOP, checkout(), None).model_dump_json()
    assert session_config(SHOP, checkout(), None).model_dump_json() == first

"""Repricing from the catalog: lines, coupons (rounded in the shopper's favour) and shipping."""

from __future__ import annotations

import pytest

from checkout.errors import CurrencyMismatch, UnknownSku
from checkout.money import percent_of
from checkout.pricing import price_cart, total_quantities, variant_of
from schemas.records import Coupon, Product, ShippingOption

STANDARD = ShippingOption(id="standard", name="Standard", amount=500)


def product(sku: str, amount: int, currency: str = "usd", **attributes: str) -> Product:
    return Product(
        shop_id="demo",
        sku=sku,
        product_code=sku.split("-")[0],
        name=sku.title(),
        attributes=attributes,
        unit_amount=amount,
        currency=currency,
        active=True,
    )


CATALOG = {
    "TEE-BLUE-L": product("TEE-BLUE-L", 2700, size="L", colour="blue"),
    "MUG": product("MUG", 1200),
}


def test_lines_are_sorted_and_priced_from_the_catalog() -> None:
    priced = price_cart("usd", {"TEE-BLUE-L": 2, "MUG": 3}, CATALOG, STANDARD, None)
    assert [(ln.sku, ln.variant, ln.quantity, ln.line_total) for ln in priced.lines] == [
        ("MUG", "", 3, 3600),
        ("TEE-BLUE-L", "colour=blue,size=L", 2, 5400),
    ]
    assert (priced.subtotal, priced.discount, priced.shipping, priced.total) == (9000, 0, 500, 9500)
    assert priced.shipping_option_id == "standard" and priced.coupon_code is None


def test_percent_coupons_round_down_so_the_shopper_never_loses_a_cent() -> None:
    ten_percent = Coupon(code="TEN", percent_off=10, amount_off=None)
    priced = price_cart("usd", {"MUG": 1}, {"MUG": product("MUG", 999)}, None, ten_percent)
    assert (priced.discount, priced.total, priced.coupon_code) == (99, 900, "TEN")
    assert percent_of(999, 10) == 99 and percent_of(1000, 15) == 150 and percent_of(1, 99) == 0
    assert percent_of(12345, 100) == 12345


def test_an_amount_coupon_never_takes_more_than_the_subtotal_and_spares_shipping() -> None:
    big = Coupon(code="BIG", percent_off=None, amount_off=5000)
    priced = price_cart("usd", {"MUG": 2}, CATALOG, STANDARD, big)
    assert (priced.subtotal, priced.discount, priced.total) == (2400, 2400, 500)


def test_unknown_skus_are_all_named() -> None:
    with pytest.raises(UnknownSku) as info:
        price_cart("usd", {"ZED": 1, "MUG": 1, "ALPHA": 2}, CATALOG, None, None)
    assert info.value.details == {"skus": ["ALPHA", "ZED"]}


def test_a_product_in_another_currency_is_refused() -> None:
    with pytest.raises(CurrencyMismatch):
        price_cart("jpy", {"MUG": 1}, CATALOG, None, None)


def test_quantities_of_one_sku_on_two_lines_are_summed() -> None:
    assert total_quantities([("MUG", 1), ("TEE", 2), ("MUG", 3)]) == {"MUG": 4, "TEE": 2}
    assert variant_of(product("X", 1, size="M", colour="red")) == "colour=red,size=M"

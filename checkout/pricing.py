"""Repricing: every line from the catalog, shipping and coupons resolved server-side."""

from __future__ import annotations

from collections.abc import Iterable

from checkout.errors import CurrencyMismatch, UnknownSku
from checkout.money import percent_of
from schemas.checkout import PricedCart
from schemas.records import Coupon, PricedLine, Product, ShippingOption


def total_quantities(lines: Iterable[tuple[str, int]]) -> dict[str, int]:
    """Units wanted per SKU; the same SKU on two lines counts once, summed."""
    wanted: dict[str, int] = {}
    for sku, quantity in lines:
        wanted[sku] = wanted.get(sku, 0) + quantity
    return wanted


def variant_of(product: Product) -> str:
    """A product's variant as a stable string, e.g. ``colour=blue,size=M``."""
    return ",".join(f"{k}={v}" for k, v in sorted(product.attributes.items()))


def price_cart(
    currency: str,
    quantities: dict[str, int],
    products: dict[str, Product],
    shipping: ShippingOption | None,
    coupon: Coupon | None,
) -> PricedCart:
    missing = sorted(set(quantities) - set(products))
    if missing:
        raise UnknownSku(details={"skus": missing})
    lines = []
    for sku in sorted(quantities):
        product = products[sku]
        if product.currency != currency:
            raise CurrencyMismatch(details={"sku": sku})
        qty = quantities[sku]
        lines.append(
            PricedLine(
                sku=sku,
                name=product.name,
                variant=variant_of(product),
                quantity=qty,
                unit_amount=product.unit_amount,
                line_total=product.unit_amount * qty,
            )
        )
    subtotal = sum(line.line_total for line in lines)
    discount = 0
    if coupon is not None:
        discount = (
            percent_of(subtotal, coupon.percent_off)
            if coupon.percent_off is not None
            else min(subtotal, coupon.amount_off or 0)
        )
    shipping_amount = shipping.amount if shipping else 0
    return PricedCart(
        currency=currency,
        lines=lines,
        subtotal=subtotal,
        discount=discount,
        shipping=shipping_amount,
        total=subtotal - discount + shipping_amount,
        shipping_option_id=shipping.id if shipping else None,
        coupon_code=coupon.code if coupon else None,
    )

"""The merchant's catalog: variants (one row per SKU, grouped by ``product_code``),
shipping options and coupons.

Writes are ``*_in`` functions of the caller's transaction (``merchant.writes.perform``
gives them idempotency and audit). A price change touches only the catalog: an open
checkout keeps the price snapshot it was created with (``checkouts.lines``), and so does
its Stripe session.
"""

from __future__ import annotations

from pydantic import BaseModel, JsonValue

from checkout.errors import AlreadyExists, NotFound, UnknownSku
from checkout.ports import Services
from checkout.validation import validate, validate_field
from repos.unit_of_work import UnitOfWork
from schemas.merchant import (
    CODE,
    SKU,
    CouponInput,
    CouponPatch,
    CouponReplace,
    CouponView,
    MerchantProduct,
    ProductInput,
    ProductPage,
    ProductPatch,
    ProductReplace,
    ShippingOptionInput,
    ShippingOptionPatch,
    ShippingOptionReplace,
    ShippingOptionView,
)
from schemas.records import Coupon, Product, ShippingOption, Shop

PAGE_LIMIT = 100


def changes(before: BaseModel | None, after: BaseModel) -> dict[str, JsonValue]:
    """Field -> [old, new] for what differs: the audit row says what changed."""
    old = before.model_dump(mode="json") if before is not None else {}
    new = after.model_dump(mode="json")
    return {k: [old.get(k), v] for k, v in new.items() if old.get(k) != v}


def product_view(p: Product) -> MerchantProduct:
    return MerchantProduct.model_validate(p.model_dump())


def _product(shop: Shop, sku: str, data: ProductReplace | ProductInput) -> Product:
    return Product(
        shop_id=shop.id,
        sku=sku,
        product_code=data.product_code or sku,
        name=data.name,
        attributes=data.attributes,
        unit_amount=data.unit_amount,
        currency=shop.currency,
        active=data.active,
    )


def list_products(
    services: Services, shop_id: str, after: str | None, limit: int = PAGE_LIMIT
) -> ProductPage:
    with services.uow() as uow:
        page = uow.catalog.product_page(shop_id, after, limit + 1)
    more = len(page) > limit
    page = page[:limit]
    return ProductPage(
        products=[product_view(p) for p in page], next_cursor=page[-1].sku if more else None
    )


def get_product(services: Services, shop_id: str, sku: str) -> MerchantProduct:
    with services.uow() as uow:
        product = uow.catalog.product(shop_id, sku)
    if product is None:
        raise UnknownSku()
    return product_view(product)


def create_product_in(
    uow: UnitOfWork, shop: Shop, body: ProductInput
) -> tuple[int, MerchantProduct]:
    if uow.catalog.product(shop.id, body.sku, lock=True) is not None:
        raise AlreadyExists(details={"sku": body.sku})
    product = _product(shop, body.sku, body)
    uow.catalog.upsert_product(product)
    return 201, product_view(product)


def replace_product_in(
    uow: UnitOfWork, shop: Shop, sku: str, body: ProductReplace
) -> tuple[int, MerchantProduct]:
    """PUT: the variant becomes exactly this (created if it did not exist)."""
    validate_field(SKU, sku, "sku")
    before = uow.catalog.product(shop.id, sku, lock=True)
    product = _product(shop, sku, body)
    uow.catalog.upsert_product(product)
    return (200 if before is not None else 201), product_view(product)


def patch_product_in(
    uow: UnitOfWork, shop: Shop, sku: str, body: ProductPatch
) -> tuple[int, MerchantProduct]:
    before = uow.catalog.product(shop.id, sku, lock=True)
    if before is None:
        raise UnknownSku()
    product = validate(Product, {**before.model_dump(), **body.model_dump(exclude_unset=True)})
    uow.catalog.upsert_product(product)
    return 200, product_view(product)


def shipping_view(o: ShippingOption) -> ShippingOptionView:
    return ShippingOptionView.model_validate(o.model_dump())


def list_shipping_options(services: Services, shop_id: str) -> list[ShippingOptionView]:
    with services.uow() as uow:
        return [shipping_view(o) for o in uow.catalog.all_shipping_options(shop_id)]


def create_shipping_option_in(
    uow: UnitOfWork, shop: Shop, body: ShippingOptionInput
) -> tuple[int, ShippingOptionView]:
    if uow.catalog.any_shipping_option(shop.id, body.id, lock=True) is not None:
        raise AlreadyExists(details={"id": body.id})
    option = ShippingOption.model_validate(body.model_dump())
    uow.catalog.upsert_shipping_option(shop.id, option)
    return 201, shipping_view(option)


def replace_shipping_option_in(
    uow: UnitOfWork, shop: Shop, option_id: str, body: ShippingOptionReplace
) -> tuple[int, ShippingOptionView]:
    validate_field(CODE, option_id, "id")
    before = uow.catalog.any_shipping_option(shop.id, option_id, lock=True)
    option = ShippingOption(id=option_id, **body.model_dump())
    uow.catalog.upsert_shipping_option(shop.id, option)
    return (200 if before is not None else 201), shipping_view(option)


def patch_shipping_option_in(
    uow: UnitOfWork, shop: Shop, option_id: str, body: ShippingOptionPatch
) -> tuple[int, ShippingOptionView]:
    before = uow.catalog.any_shipping_option(shop.id, option_id, lock=True)
    if before is None:
        raise NotFound("No such shipping option.")
    option = validate(
        ShippingOption, {**before.model_dump(), **body.model_dump(exclude_unset=True)}
    )
    uow.catalog.upsert_shipping_option(shop.id, option)
    return 200, shipping_view(option)


def coupon_view(c: Coupon) -> CouponView:
    return CouponView.model_validate(c.model_dump())


def list_coupons(services: Services, shop_id: str) -> list[CouponView]:
    with services.uow() as uow:
        return [coupon_view(c) for c in uow.catalog.all_coupons(shop_id)]


def create_coupon_in(uow: UnitOfWork, shop: Shop, body: CouponInput) -> tuple[int, CouponView]:
    if uow.catalog.any_coupon(shop.id, body.code, lock=True) is not None:
        raise AlreadyExists(details={"code": body.code})
    coupon = Coupon.model_validate(body.model_dump())
    uow.catalog.upsert_coupon(shop.id, coupon)
    return 201, coupon_view(coupon)


def replace_coupon_in(
    uow: UnitOfWork, shop: Shop, code: str, body: CouponReplace
) -> tuple[int, CouponView]:
    validate_field(CODE, code, "code")
    before = uow.catalog.any_coupon(shop.id, code, lock=True)
    coupon = Coupon(code=code, **body.model_dump())
    uow.catalog.upsert_coupon(shop.id, coupon)
    return (200 if before is not None else 201), coupon_view(coupon)


def patch_coupon_in(
    uow: UnitOfWork, shop: Shop, code: str, body: CouponPatch
) -> tuple[int, CouponView]:
    before = uow.catalog.any_coupon(shop.id, code, lock=True)
    if before is None:
        raise NotFound("No such coupon.")
    coupon = before.model_copy(update={"active": body.active})
    uow.catalog.upsert_coupon(shop.id, coupon)
    return 200, coupon_view(coupon)

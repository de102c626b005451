"""Merchant catalog endpoints: variants, shipping options, coupons and bulk import.

Authenticated by a shop's API key (``web.admin_auth``); every query is scoped to that
shop, so another shop's SKU is simply not found. Writes go through ``write``.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from merchant import catalog
from merchant.catalog_import import import_catalog_in, parse_catalog
from merchant.shops import view_of
from schemas.merchant import (
    CatalogDocument,
    CouponInput,
    CouponList,
    CouponPatch,
    CouponReplace,
    CouponView,
    ImportResult,
    MerchantProduct,
    ProductInput,
    ProductPage,
    ProductPatch,
    ProductReplace,
    ShippingOptionInput,
    ShippingOptionList,
    ShippingOptionPatch,
    ShippingOptionReplace,
    ShippingOptionView,
    ShopView,
)
from web.admin_auth import actor, merchant_shop, register_merchant_auth, write
from web.context import container
from web.errors import error_response
from web.openapi import documented
from web.requests import page_limit, parse_body

bp = Blueprint("admin_catalog", __name__, url_prefix="/admin")
register_merchant_auth(bp)

IMPORT_MAX_BYTES = 64 * 1024 * 1024
IDEMPOTENT = {"Idempotency-Key": "optional"}
READ_ERRORS = {401: "unauthorized"}
WRITE_ERRORS = {401: "unauthorized", 422: "invalid_request or idempotency_key_reused"}


@bp.get("/shop")
@documented(
    "The shop this key belongs to", response=ShopView, errors=READ_ERRORS, security="merchant"
)
def own_shop() -> Response:
    return jsonify(view_of(merchant_shop()).model_dump(mode="json"))


@bp.get("/products")
@documented(
    "Variants in SKU order, inactive ones included, a page at a time",
    response=ProductPage,
    errors={**READ_ERRORS, 422: "invalid_request"},
    security="merchant",
    query={"after": "cursor: the next_cursor of the previous page", "limit": "1-500, default 100"},
)
def list_products() -> Response:
    page = catalog.list_products(
        container(), merchant_shop().id, request.args.get("after") or None, page_limit()
    )
    return jsonify(page.model_dump(mode="json"))


@bp.post("/products")
@documented(
    "Create a variant (409 if its SKU exists)",
    body=ProductInput,
    response=MerchantProduct,
    status=201,
    errors={**WRITE_ERRORS, 409: "already_exists"},
    headers=IDEMPOTENT,
    security="merchant",
)
def create_product() -> Response:
    body = parse_body(ProductInput)
    shop = merchant_shop()
    return write(
        "product.create",
        body.sku,
        lambda uow: catalog.create_product_in(uow, shop, body),
        {"fields": body.model_dump(mode="json")},
    )


@bp.get("/products/<sku>")
@documented(
    "One variant",
    response=MerchantProduct,
    errors={**READ_ERRORS, 404: "unknown_sku"},
    security="merchant",
)
def get_product(sku: str) -> Response:
    return jsonify(catalog.get_product(container(), merchant_shop().id, sku).model_dump())


@bp.put("/products/<sku>")
@documented(
    "Create or replace a variant (201 created, 200 replaced); open checkouts keep their price",
    body=ProductReplace,
    response=MerchantProduct,
    status=(200, 201),
    errors=WRITE_ERRORS,
    headers=IDEMPOTENT,
    security="merchant",
)
def replace_product(sku: str) -> Response:
    body = parse_body(ProductReplace)
    shop = merchant_shop()
    return write(
        "product.replace",
        sku,
        lambda uow: catalog.replace_product_in(uow, shop, sku, body),
        {"fields": body.model_dump(mode="json")},
    )


@bp.patch("/products/<sku>")
@documented(
    "Change some fields of a variant; open checkouts keep their price",
    body=ProductPatch,
    response=MerchantProduct,
    errors={**WRITE_ERRORS, 404: "unknown_sku"},
    headers=IDEMPOTENT,
    security="merchant",
)
def patch_product(sku: str) -> Response:
    body = parse_body(ProductPatch)
    shop = merchant_shop()
    return write(
        "product.update",
        sku,
        lambda uow: catalog.patch_product_in(uow, shop, sku, body),
        {"fields": body.model_dump(mode="json", exclude_unset=True)},
    )


@bp.get("/shipping-options")
@documented(
    "Shipping options, inactive ones included",
    response=ShippingOptionList,
    errors=READ_ERRORS,
    security="merchant",
)
def list_shipping_options() -> Response:
    options = catalog.list_shipping_options(container(), merchant_shop().id)
    return jsonify(ShippingOptionList(options).model_dump())


@bp.post("/shipping-options")
@documented(
    "Create a shipping option (409 if its id exists)",
    body=ShippingOptionInput,
    response=ShippingOptionView,
    status=201,
    errors={**WRITE_ERRORS, 409: "already_exists"},
    headers=IDEMPOTENT,
    security="merchant",
)
def create_shipping_option() -> Response:
    body = parse_body(ShippingOptionInput)
    shop = merchant_shop()
    return write(
        "shipping_option.create",
        body.id,
        lambda uow: catalog.create_shipping_option_in(uow, shop, body),
        {"fields": body.model_dump(mode="json")},
    )


@bp.put("/shipping-options/<option_id>")
@documented(
    "Create or replace a shipping option (201 created, 200 replaced)",
    body=ShippingOptionReplace,
    response=ShippingOptionView,
    status=(200, 201),
    errors=WRITE_ERRORS,
    headers=IDEMPOTENT,
    security="merchant",
)
def replace_shipping_option(option_id: str) -> Response:
    body = parse_body(ShippingOptionReplace)
    shop = merchant_shop()
    return write(
        "shipping_option.replace",
        option_id,
        lambda uow: catalog.replace_shipping_option_in(uow, shop, option_id, body),
        {"fields": body.model_dump(mode="json")},
    )


@bp.patch("/shipping-options/<option_id>")
@documented(
    "Change some fields of a shipping option",
    body=ShippingOptionPatch,
    response=ShippingOptionView,
    errors={**WRITE_ERRORS, 404: "not_found"},
    headers=IDEMPOTENT,
    security="merchant",
)
def patch_shipping_option(option_id: str) -> Response:
    body = parse_body(ShippingOptionPatch)
    shop = merchant_shop()
    return write(
        "shipping_option.update",
        option_id,
        lambda uow: catalog.patch_shipping_option_in(uow, shop, option_id, body),
        {"fields": body.model_dump(mode="json", exclude_unset=True)},
    )


@bp.get("/coupons")
@documented(
    "Coupons, inactive ones included", response=CouponList, errors=READ_ERRORS, security="merchant"
)
def list_coupons() -> Response:
    return jsonify(CouponList(catalog.list_coupons(container(), merchant_shop().id)).model_dump())


@bp.post("/coupons")
@documented(
    "Create a coupon (409 if its code exists)",
    body=CouponInput,
    response=CouponView,
    status=201,
    errors={**WRITE_ERRORS, 409: "already_exists"},
    headers=IDEMPOTENT,
    security="merchant",
)
def create_coupon() -> Response:
    body = parse_body(CouponInput)
    shop = merchant_shop()
    return write(
        "coupon.create",
        body.code,
        lambda uow: catalog.create_coupon_in(uow, shop, body),
        {"fields": body.model_dump(mode="json")},
    )


@bp.put("/coupons/<code>")
@documented(
    "Create or replace a coupon (201 created, 200 replaced); open checkouts keep their discount",
    body=CouponReplace,
    response=CouponView,
    status=(200, 201),
    errors=WRITE_ERRORS,
    headers=IDEMPOTENT,
    security="merchant",
)
def replace_coupon(code: str) -> Response:
    body = parse_body(CouponReplace)
    shop = merchant_shop()
    return write(
        "coupon.replace",
        code,
        lambda uow: catalog.replace_coupon_in(uow, shop, code, body),
        {"fields": body.model_dump(mode="json")},
    )


@bp.patch("/coupons/<code>")
@documented(
    "Switch a coupon on or off",
    body=CouponPatch,
    response=CouponView,
    errors={**WRITE_ERRORS, 404: "not_found"},
    headers=IDEMPOTENT,
    security="merchant",
)
def patch_coupon(code: str) -> Response:
    body = parse_body(CouponPatch)
    shop = merchant_shop()
    return write(
        "coupon.update",
        code,
        lambda uow: catalog.patch_coupon_in(uow, shop, code, body),
        {"fields": body.model_dump(mode="json")},
    )


@bp.post("/catalog/import")
@documented(
    "Import a catalog (JSON or CSV, see docs/merchant-api.md): all or nothing, upserts",
    body=CatalogDocument,
    response=ImportResult,
    errors={
        401: "unauthorized",
        415: "unsupported_media_type",
        422: "import_rejected (details.errors: row, section, field, message)",
    },
    headers=IDEMPOTENT,
    security="merchant",
    content_types=("application/json", "text/csv"),
)
def import_catalog() -> Response:
    request.max_content_length = IMPORT_MAX_BYTES
    mimetype = request.mimetype
    if mimetype not in {"application/json", "text/csv"}:
        return error_response(
            415, "unsupported_media_type", "Send the catalog as application/json or text/csv."
        )
    parsed = parse_catalog(
        request.get_data(cache=True), "csv" if mimetype == "text/csv" else "json"
    )
    shop, who = merchant_shop(), actor()
    return write(
        "catalog.import",
        None,
        lambda uow: import_catalog_in(uow, shop, who, parsed),
        {
            "products": len(parsed.doc.products),
            "shipping_options": len(parsed.doc.shipping_options),
            "coupons": len(parsed.doc.coupons),
        },
    )

"""Products and stock checks for storefronts."""

from __future__ import annotations

import psycopg
import psycopg_pool
from flask import Blueprint, Response, jsonify

from checkout import carts
from checkout.errors import StockUnavailable
from schemas.cart import InventoryRequest, InventoryResult, ProductList
from web.context import container, shop
from web.openapi import documented
from web.requests import parse_body

bp = Blueprint("catalog", __name__, url_prefix="/api")


@bp.get("/products")
@documented(
    "The shop's active products with price and availability",
    response=ProductList,
)
def products() -> Response:
    return jsonify(carts.list_products(container(), shop()).model_dump())


@bp.post("/inventory/validate")
@documented(
    "Check stock for many items in one query; fails closed",
    body=InventoryRequest,
    response=InventoryResult,
    errors={503: "stock_unavailable"},
)
def validate_inventory() -> Response:
    body = parse_body(InventoryRequest)
    try:
        result = carts.validate_inventory(container(), shop(), body)
    except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
        raise StockUnavailable() from exc
    return jsonify(result.model_dump())

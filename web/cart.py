"""The server-side cart, addressed by the signed ``kassa_cart`` cookie."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from checkout import carts
from schemas.cart import AddItem, CartView, SetQuantity
from web.context import container, shop
from web.cookies import read_cart_id, set_cart_cookie
from web.openapi import documented
from web.requests import parse_body

bp = Blueprint("cart", __name__, url_prefix="/api/cart")


def _cart_response(cart_id: str | None, *, set_cookie: bool = False) -> Response:
    c = container()
    resp = jsonify(carts.view_cart(c, shop(), cart_id).model_dump())
    if set_cookie and cart_id:
        set_cart_cookie(resp, shop().id, cart_id, c.settings.cart_ttl_seconds)
    return resp


@bp.get("")
@documented("The cart, repriced from the catalog", response=CartView)
def get_cart() -> Response:
    return _cart_response(read_cart_id(shop().id))


@bp.post("/items")
@documented(
    "Add units of a SKU; creates the cart and its cookie if needed",
    body=AddItem,
    response=CartView,
    errors={404: "unknown_sku", 422: "invalid_request (a line holds at most 999 units)"},
)
def add_item() -> Response:
    body = parse_body(AddItem)
    c = container()
    cart_id = read_cart_id(shop().id) or c.carts.new_id()
    carts.add_item(c, shop(), cart_id, body.sku, body.quantity)
    return _cart_response(cart_id, set_cookie=True)


@bp.patch("/items/<line_key>")
@documented(
    "Set a line's quantity (0 removes it)",
    body=SetQuantity,
    response=CartView,
    errors={404: "unknown_line"},
)
def set_quantity(line_key: str) -> Response:
    body = parse_body(SetQuantity)
    cart_id = read_cart_id(shop().id)
    carts.set_quantity(container(), shop(), cart_id, line_key, body.quantity)
    return _cart_response(cart_id, set_cookie=True)


@bp.delete("/items/<line_key>")
@documented("Remove a line", response=CartView, errors={404: "unknown_line"})
def remove_item(line_key: str) -> Response:
    cart_id = read_cart_id(shop().id)
    carts.remove_item(container(), shop(), cart_id, line_key)
    return _cart_response(cart_id, set_cookie=True)

"""Signed, HttpOnly cookies: the browser holds opaque ids, never prices or personal data."""

from __future__ import annotations

from uuid import UUID

from flask import current_app, request
from itsdangerous import BadSignature, URLSafeSerializer
from werkzeug.wrappers import Response

from checkout.fulfilment import order_token

CART_COOKIE = "kassa_cart"
CHECKOUT_COOKIE = "kassa_checkout"
ORDER_COOKIE = "kassa_order"


def _signer(purpose: str) -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=f"kassa-{purpose}")


def read_cart_id(shop_id: str) -> str | None:
    """The cart id from the cookie, only if it was signed by us for this very shop."""
    raw = request.cookies.get(CART_COOKIE)
    if not raw:
        return None
    try:
        data = _signer("cart").loads(raw)
    except BadSignature:
        return None
    if not isinstance(data, dict) or data.get("shop") != shop_id:
        return None
    cart = data.get("cart")
    return cart if isinstance(cart, str) else None


def set_secure_cookie(resp: Response, name: str, value: str, max_age: int) -> None:
    resp.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        samesite="Lax",
        path="/",
        secure=request.is_secure,
    )


def set_cart_cookie(resp: Response, shop_id: str, cart_id: str, max_age: int) -> None:
    set_secure_cookie(
        resp, CART_COOKIE, _signer("cart").dumps({"shop": shop_id, "cart": cart_id}), max_age
    )


def set_order_cookie(resp: Response, order_id: UUID) -> None:
    """The checkout's owner becomes the order's owner: the token the order pages ask for."""
    token = order_token(current_app.config["SECRET_KEY"], order_id)
    set_secure_cookie(resp, ORDER_COOKIE, token, max_age=30 * 24 * 3600)

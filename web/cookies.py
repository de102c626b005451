"""Signed, HttpOnly cookies: the browser holds opaque ids, never prices or personal data."""

from __future__ import annotations

from uuid import UUID

from flask import current_app, request
from itsdangerous import BadSignature, URLSafeSerializer
from werkzeug.wrappers import Response

from checkout.fulfilment import order_token
from web.context import container

CART_COOKIE = "kassa_cart"
CHECKOUT_COOKIE = "kassa_checkout"
ORDER_COOKIE = "kassa_order"
ORDER_COOKIE_MAX_AGE = 30 * 24 * 3600
"""How long the checkout's owner keeps the order it bought (an emailed link sets its own,
anchored to the order's creation)."""


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


def secure_cookies() -> bool:
    """Whether cookies carry ``Secure``: when this request came over HTTPS, and whenever the
    public URL is HTTPS. Behind a proxy that ends TLS the request reaching us is plain HTTP,
    yet the browser speaks HTTPS, and it must never send these cookies over plain HTTP."""
    return request.is_secure or container().settings.public_url.startswith("https://")


def set_secure_cookie(
    resp: Response, name: str, value: str, max_age: int, *, path: str = "/"
) -> None:
    resp.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        samesite="Lax",
        path=path,
        secure=secure_cookies(),
    )


def set_cart_cookie(resp: Response, shop_id: str, cart_id: str, max_age: int) -> None:
    set_secure_cookie(
        resp, CART_COOKIE, _signer("cart").dumps({"shop": shop_id, "cart": cart_id}), max_age
    )


def set_order_cookie(
    resp: Response, order_id: UUID, reference: str, max_age: int = ORDER_COOKIE_MAX_AGE
) -> None:
    """Hand this browser the order's token, the proof the order's page and API ask for.

    One cookie per order, scoped by ``Path`` to that order's page and to its API, so a
    browser holds several orders at once: buying a second order, or opening another order's
    emailed link, leaves the first one's cookie alone, and each order's URLs receive only
    their own token (the name stays ``kassa_order``; see docs/modification-window.md)."""
    token = order_token(current_app.config["SECRET_KEY"], order_id)
    for path in (f"/orders/{reference}", f"/api/orders/{reference}"):
        set_secure_cookie(resp, ORDER_COOKIE, token, max_age, path=path)


def order_cookie_tokens() -> tuple[str, ...]:
    """Every ``kassa_order`` value the browser sent, each a candidate proof. A request to an
    order's URL carries that order's cookie and may also carry a root-path one left by an
    older release (for some other order), in any order: none may shadow another."""
    return tuple(dict.fromkeys(v for v in request.cookies.getlist(ORDER_COOKIE) if v))

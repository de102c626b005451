"""Fail-closed tenancy: no ``/api/*`` request runs without a known shop."""

from __future__ import annotations

from flask import Flask, g, request

from checkout.errors import ShopRequired
from checkout.shops import known_shop
from web.context import container


def require_shop() -> None:
    if not request.path.startswith("/api/"):
        return
    shop_id = request.headers.get("X-Shop-Id", "").strip()
    if not shop_id:
        raise ShopRequired()
    g.shop = known_shop(container(), shop_id)


def register_tenancy(app: Flask) -> None:
    app.before_request(require_shop)

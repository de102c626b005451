"""Operator endpoints: shops and their API keys (``Authorization: Bearer $KASSA_ADMIN_TOKEN``).

Thin views over ``merchant.shops`` and ``merchant.api_keys``, the services behind
``kassa shop`` and ``kassa apikey``. No answer carries a Stripe secret; a new API key's
secret is in the creation answer only.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from merchant import api_keys, shops
from schemas.merchant import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyList,
    ApiKeyView,
    ShopCreate,
    ShopList,
    ShopSettingsPatch,
    ShopView,
)
from web.admin_auth import require_operator
from web.context import container
from web.openapi import documented
from web.requests import parse_body

bp = Blueprint("admin_shops", __name__, url_prefix="/admin")
bp.before_request(require_operator)

UNAUTHORIZED = {401: "missing or wrong operator token"}


def _json(body: object, status: int = 200) -> Response:
    resp = jsonify(body)
    resp.status_code = status
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.get("/shops")
@documented(
    "Every shop's settings (never its secrets)",
    response=ShopList,
    errors=UNAUTHORIZED,
    security="operator",
)
def list_shops() -> Response:
    return _json(ShopList(shops.list_shops(container())).model_dump(mode="json"))


@bp.post("/shops")
@documented(
    "Create a shop; its Stripe key and webhook secret are stored encrypted",
    body=ShopCreate,
    response=ShopView,
    status=201,
    errors={**UNAUTHORIZED, 409: "shop_exists", 422: "invalid_request"},
    security="operator",
)
def create_shop() -> Response:
    view = shops.create_shop(container(), parse_body(ShopCreate))
    return _json(view.model_dump(mode="json"), 201)


@bp.get("/shops/<shop_id>")
@documented(
    "One shop's settings",
    response=ShopView,
    errors={**UNAUTHORIZED, 404: "shop_not_found"},
    security="operator",
)
def get_shop(shop_id: str) -> Response:
    return _json(shops.get_shop(container(), shop_id).model_dump(mode="json"))


@bp.patch("/shops/<shop_id>")
@documented(
    "Change a shop's settings or secrets; absent fields stay as they are",
    body=ShopSettingsPatch,
    response=ShopView,
    errors={**UNAUTHORIZED, 404: "shop_not_found", 422: "invalid_request"},
    security="operator",
)
def update_shop(shop_id: str) -> Response:
    view = shops.update_shop(container(), shop_id, parse_body(ShopSettingsPatch))
    return _json(view.model_dump(mode="json"))


@bp.get("/api-keys")
@documented(
    "API keys (all, or one shop's with ?shop=), without their secrets",
    response=ApiKeyList,
    errors={**UNAUTHORIZED, 404: "shop_not_found"},
    security="operator",
    query={"shop": "only this shop's keys"},
)
def list_api_keys() -> Response:
    keys = api_keys.list_api_keys(container(), request.args.get("shop") or None)
    return _json(ApiKeyList(keys).model_dump(mode="json"))


@bp.post("/api-keys")
@documented(
    "Create a shop's API key; the answer holds the key, shown this once",
    body=ApiKeyCreate,
    response=ApiKeyCreated,
    status=201,
    errors={**UNAUTHORIZED, 404: "shop_not_found", 422: "invalid_request"},
    security="operator",
)
def create_api_key() -> Response:
    created = api_keys.create_api_key(container(), parse_body(ApiKeyCreate))
    return _json(created.model_dump(mode="json"), 201)


@bp.delete("/api-keys/<key_id>")
@documented(
    "Revoke an API key: it stops working at once (revoking twice is harmless)",
    response=ApiKeyView,
    errors={**UNAUTHORIZED, 404: "not_found"},
    security="operator",
)
def revoke_api_key(key_id: str) -> Response:
    return _json(api_keys.revoke_api_key(container(), key_id).model_dump(mode="json"))

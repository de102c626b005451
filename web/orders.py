"""Orders for their owners (``kassa_order`` cookie or ``X-Modification-Token``)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from checkout.orders import order_for_owner
from schemas.orders import OrderView
from web.context import container, shop
from web.cookies import ORDER_COOKIE
from web.openapi import documented

bp = Blueprint("orders", __name__, url_prefix="/api/orders")


def order_token_from_request() -> str | None:
    return request.headers.get("X-Modification-Token") or request.cookies.get(ORDER_COOKIE)


@bp.get("/<reference>")
@documented(
    "An order, for its owner",
    response=OrderView,
    headers={"X-Modification-Token": "optional"},
    errors={401: "unauthorized", 404: "order_not_found"},
)
def get_order(reference: str) -> Response:
    view = order_for_owner(container(), shop(), reference, order_token_from_request())
    resp = jsonify(view.model_dump(mode="json"))
    resp.headers["Cache-Control"] = "no-store"
    return resp

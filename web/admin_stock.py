"""Merchant stock endpoints: levels per location, set and adjust with a reason, the ledger.

Thin views over ``merchant.stock``; a change that would leave fewer units on hand than
live checkouts reserve is refused with 409 ``stock_below_reserved`` and its numbers.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from checkout.errors import InvalidRequest
from merchant import stock
from schemas.merchant import StockAdjust, StockLedgerPage, StockLevelView, StockList, StockSet
from web.admin_auth import actor, register_merchant_auth, write
from web.context import container
from web.openapi import documented
from web.requests import page_limit, parse_body

bp = Blueprint("admin_stock", __name__, url_prefix="/admin/stock")
register_merchant_auth(bp)

IDEMPOTENT = {"Idempotency-Key": "optional"}
ERRORS = {
    401: "unauthorized",
    404: "unknown_sku",
    409: "stock_below_reserved (details: sku, location, requested_on_hand, on_hand, reserved)",
    422: "invalid_request or idempotency_key_reused",
}


@bp.get("")
@documented(
    "On-hand, reserved and available units per SKU and location",
    response=StockList,
    errors={401: "unauthorized"},
    security="merchant",
)
def list_stock() -> Response:
    return jsonify(StockList(stock.list_stock(container(), actor().shop_id)).model_dump())


@bp.put("/<sku>/<location>")
@documented(
    "Set on-hand units at a location (created if new), with a reason for the ledger",
    body=StockSet,
    response=StockLevelView,
    errors=ERRORS,
    headers=IDEMPOTENT,
    security="merchant",
)
def set_level(sku: str, location: str) -> Response:
    body = parse_body(StockSet)
    who = actor()
    return write(
        "stock.set",
        f"{sku}@{location}",
        lambda uow: stock.set_stock_in(uow, who, sku, location, body),
        body.model_dump(),
    )


@bp.post("/<sku>/<location>/adjustments")
@documented(
    "Add (or, negative, remove) on-hand units at a location, with a reason for the ledger",
    body=StockAdjust,
    response=StockLevelView,
    errors=ERRORS,
    headers=IDEMPOTENT,
    security="merchant",
)
def adjust_level(sku: str, location: str) -> Response:
    body = parse_body(StockAdjust)
    who = actor()
    return write(
        "stock.adjust",
        f"{sku}@{location}",
        lambda uow: stock.adjust_stock_in(uow, who, sku, location, body),
        body.model_dump(),
    )


@bp.get("/ledger")
@documented(
    "Every change of on-hand units, oldest first: who, why, how many, what was left",
    response=StockLedgerPage,
    errors={401: "unauthorized", 422: "invalid_request"},
    security="merchant",
    query={"sku": "only this SKU", "after": "cursor (next_cursor)", "limit": "1-500"},
)
def ledger() -> Response:
    after = request.args.get("after", "0")
    if not after.isdigit():
        raise InvalidRequest("after must be a cursor from a previous page.")
    page = stock.ledger(
        container(), actor().shop_id, request.args.get("sku") or None, int(after), page_limit()
    )
    return jsonify(page.model_dump(mode="json"))

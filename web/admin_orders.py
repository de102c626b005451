"""Merchant order endpoints: list, read, refund, cancel, mark shipped. Thin views over
``merchant.orders``; every change is idempotent by Idempotency-Key and audited."""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, Response, jsonify, request

from checkout.errors import InvalidRequest
from merchant import orders
from schemas.merchant_orders import (
    FulfilRequest,
    MerchantOrder,
    OrderPage,
    RefundAccepted,
    RefundRequest,
)
from web.admin_auth import merchant_shop, register_merchant_auth, write
from web.context import container
from web.openapi import documented
from web.requests import page_limit, parse_body

bp = Blueprint("admin_orders", __name__, url_prefix="/admin/orders")
register_merchant_auth(bp)

IDEMPOTENT = {"Idempotency-Key": "optional"}
READ = {401: "unauthorized", 404: "order_not_found"}
CHANGE = {
    **READ,
    409: "order_not_changeable (details: status)",
    422: "invalid_request or idempotency_key_reused",
}


def _when(name: str) -> datetime | None:
    raw = request.args.get(name)
    if not raw:
        return None
    try:
        return datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidRequest(f"{name} must be an ISO 8601 date or time.") from None


@bp.get("")
@documented(
    "Orders, newest first, a page at a time",
    response=OrderPage,
    errors={401: "unauthorized", 422: "invalid_request"},
    security="merchant",
    query={
        "status": "only orders in this status",
        "reference": "the order with this reference",
        "created_from": "ISO 8601, inclusive",
        "created_to": "ISO 8601, exclusive",
        "cursor": "the next_cursor of the previous page",
        "limit": "1-100, default 50",
    },
)
def list_orders() -> Response:
    page = orders.list_orders(
        container(),
        merchant_shop().id,
        status=request.args.get("status") or None,
        reference=request.args.get("reference") or None,
        created_from=_when("created_from"),
        created_to=_when("created_to"),
        cursor=request.args.get("cursor") or None,
        limit=page_limit(default=50, most=orders.PAGE_MAX),
    )
    return jsonify(page.model_dump(mode="json"))


@bp.get("/<reference>")
@documented(
    "An order with its lines, payment, refunds and history",
    response=MerchantOrder,
    errors=READ,
    security="merchant",
)
def get_order(reference: str) -> Response:
    detail = orders.order_detail(container(), merchant_shop(), reference)
    resp = jsonify(detail.model_dump(mode="json"))
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.post("/<reference>/refunds")
@documented(
    "Refund the whole order, some lines, or an amount (never more than was captured)",
    body=RefundRequest,
    response=RefundAccepted,
    status=201,
    errors={**CHANGE, 409: "refund_exceeds_captured or order_not_changeable"},
    headers=IDEMPOTENT,
    security="merchant",
)
def refund(reference: str) -> Response:
    body = parse_body(RefundRequest)
    shop = merchant_shop()
    return write(
        "order.refund",
        reference,
        lambda uow: orders.refund_in(uow, shop, reference, body),
        body.model_dump(mode="json"),
    )


@bp.post("/<reference>/cancel")
@documented(
    "Cancel an order that has not shipped: stock back, payment voided or refunded",
    response=MerchantOrder,
    errors=CHANGE,
    headers=IDEMPOTENT,
    security="merchant",
)
def cancel(reference: str) -> Response:
    shop = merchant_shop()
    return write(
        "order.cancel", reference, lambda uow: orders.cancel_order_in(uow, shop, reference)
    )


@bp.post("/<reference>/fulfilment")
@documented(
    "Mark an order shipped with a tracking reference (the customer is emailed)",
    body=FulfilRequest,
    response=MerchantOrder,
    errors=CHANGE,
    headers=IDEMPOTENT,
    security="merchant",
)
def fulfil(reference: str) -> Response:
    body = parse_body(FulfilRequest)
    shop = merchant_shop()
    return write(
        "order.fulfil",
        reference,
        lambda uow: orders.mark_fulfilled_in(uow, shop, reference, body),
        body.model_dump(),
    )

"""Orders for their owners (``kassa_order`` cookie or ``X-Modification-Token``), and the
changes they may make during the modification window."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from checkout import modifications
from checkout.modifications import ChangeRequest
from checkout.orders import order_for_owner
from schemas.orders import AddLineInput, AddressInput, OrderView, QuantityInput
from web.context import container, shop
from web.cookies import ORDER_COOKIE
from web.openapi import documented
from web.requests import parse_body

bp = Blueprint("orders", __name__, url_prefix="/api/orders")

OWNER = {"X-Modification-Token": "optional"}
CHANGE_HEADERS = {**OWNER, "Idempotency-Key": "optional"}
CHANGE_ERRORS = {
    401: "unauthorized",
    404: "order_not_found",
    409: "window_closed",
    422: "invalid_request, idempotency_key_reused",
}


def order_token_from_request() -> str | None:
    return request.headers.get("X-Modification-Token") or request.cookies.get(ORDER_COOKIE)


def _request(reference: str) -> ChangeRequest:
    return ChangeRequest(
        shop=shop(),
        reference=reference,
        token=order_token_from_request(),
        idempotency_key=request.headers.get("Idempotency-Key") or None,
    )


def _order_response(view: OrderView) -> Response:
    resp = jsonify(view.model_dump(mode="json"))
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.get("/<reference>")
@documented(
    "An order, for its owner",
    response=OrderView,
    headers=OWNER,
    errors={401: "unauthorized", 404: "order_not_found"},
)
def get_order(reference: str) -> Response:
    return _order_response(
        order_for_owner(container(), shop(), reference, order_token_from_request())
    )


@bp.post("/<reference>/cancel")
@documented(
    "Cancel the whole order during its window: the authorization is voided (delayed "
    "capture) or the payment refunded in full (immediate capture); the stock goes back",
    response=OrderView,
    headers=CHANGE_HEADERS,
    errors=CHANGE_ERRORS,
)
def cancel(reference: str) -> Response:
    return _order_response(modifications.cancel_order(container(), _request(reference)))


@bp.put("/<reference>/address")
@documented(
    "Replace the shipping address during the window",
    body=AddressInput,
    response=OrderView,
    headers=CHANGE_HEADERS,
    errors=CHANGE_ERRORS,
)
def change_address(reference: str) -> Response:
    address = parse_body(AddressInput)
    return _order_response(modifications.change_address(container(), _request(reference), address))


@bp.patch("/<reference>/lines/<int:line_id>")
@documented(
    "Lower a line's quantity during the window (0 removes it; the last line to 0 cancels "
    "the order). Totals are repriced server-side; a delayed capture takes the new total, "
    "an immediate one is refunded the difference",
    body=QuantityInput,
    response=OrderView,
    headers=CHANGE_HEADERS,
    errors={
        **CHANGE_ERRORS,
        404: "order_not_found, unknown_line",
        409: "window_closed, amount_increase_not_allowed",
    },
)
def change_line(reference: str, line_id: int) -> Response:
    body = parse_body(QuantityInput)
    return _order_response(
        modifications.set_line_quantity(container(), _request(reference), line_id, body.quantity)
    )


@bp.post("/<reference>/lines")
@documented(
    "Add items to an order (not available yet: answers 501 adding_items_unavailable after "
    "the ownership and window checks; an authorization is never raised)",
    body=AddLineInput,
    headers=CHANGE_HEADERS,
    status=201,
    errors={**CHANGE_ERRORS, 501: "adding_items_unavailable"},
)
def add_line(reference: str) -> Response:
    body = parse_body(AddLineInput)
    return _order_response(modifications.add_line(container(), _request(reference), body))

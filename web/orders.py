"""Orders for their owners (``kassa_order`` cookie or ``X-Modification-Token``), and the
changes they may make during the modification window."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from checkout import modifications
from checkout.additions import add_items
from checkout.modifications import ChangeRequest
from checkout.orders import order_for_owner
from schemas.api import MAX_BIGINT
from schemas.checkout import CheckoutResponse
from schemas.orders import AddLineInput, AddressInput, OrderView, QuantityInput
from web.context import container, shop
from web.cookies import order_cookie_tokens
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


def order_tokens_from_request() -> tuple[str, ...]:
    """The header's token if there is one (as before, it alone decides), else every order
    cookie this URL received."""
    header = request.headers.get("X-Modification-Token")
    return (header,) if header else order_cookie_tokens()


def _request(reference: str) -> ChangeRequest:
    return ChangeRequest(
        shop=shop(),
        reference=reference,
        tokens=order_tokens_from_request(),
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
        order_for_owner(container(), shop(), reference, order_tokens_from_request())
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


@bp.patch(f"/<reference>/lines/<int(max={MAX_BIGINT}):line_id>")
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
    "Add items during the window, without ever raising an authorization: the items are "
    "priced from today's catalog (no coupon, no shipping), held, and paid through a "
    "supplementary Stripe Checkout Session of their own (same capture mode as the order, "
    "expiring no later than the window's end). Once paid, they become order lines and are "
    "captured or refunded with the order; unpaid, their hold lapses and the order stays "
    "as it was; paid after the window, the payment is refunded in full. The same "
    "Idempotency-Key (required) returns the same session",
    body=AddLineInput,
    response=CheckoutResponse,
    headers={**OWNER, "Idempotency-Key": "required"},
    status=201,
    errors={
        **CHANGE_ERRORS,
        400: "idempotency_key_required",
        404: "order_not_found, unknown_sku",
        409: "window_closed, window_closing (under 30 minutes left to pay), out_of_stock",
        422: "invalid_request, idempotency_key_reused, currency_mismatch",
        503: "payment_provider_unavailable",
    },
)
def add_line(reference: str) -> Response:
    body = parse_body(AddLineInput)
    result = add_items(container(), _request(reference), body)
    resp = jsonify(result.model_dump())
    resp.status_code = 201
    resp.headers["Cache-Control"] = "no-store"
    return resp

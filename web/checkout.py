"""Checkout creation and its status, for storefronts and the success page."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from checkout.sessions import cancel_checkout, start_checkout
from checkout.status import checkout_status, owned_checkout
from schemas.cart import CartInput
from schemas.checkout import CheckoutResponse, CheckoutStatus
from schemas.records import CheckoutRecord
from web.context import container, shop
from web.cookies import CHECKOUT_COOKIE, read_cart_id, set_order_cookie, set_secure_cookie
from web.limits import checkout_limit, limited, shop_scoped_ip
from web.openapi import documented
from web.requests import parse_body

bp = Blueprint("checkout", __name__, url_prefix="/api/checkout")


@bp.post("")
@limited(checkout_limit, shop_scoped_ip)
@documented(
    "Reprice the cart, hold stock and return the Stripe Checkout Session (201 new, 200 replay)",
    body=CartInput,
    response=CheckoutResponse,
    status=(201, 200),
    headers={"Idempotency-Key": "optional"},
    errors={
        400: "idempotency_key_required",
        409: "out_of_stock (per-line details); checkout_in_progress (Retry-After)",
        422: "empty_cart, unknown_shipping_option, unknown_coupon, currency_mismatch,"
        " idempotency_key_reused",
        429: "rate_limited (Retry-After)",
        503: "payment_provider_unavailable (the hold is released)",
    },
)
def create() -> Response:
    body = parse_body(CartInput)
    c = container()
    key = request.headers.get("Idempotency-Key", "").strip() or None
    result = start_checkout(c, shop(), body, cart_id=read_cart_id(shop().id), client_key=key)
    resp = jsonify(result.response.model_dump())
    resp.status_code = 201 if result.created else 200
    set_secure_cookie(resp, CHECKOUT_COOKIE, result.nonce, max_age=2 * 24 * 3600)
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _owned(checkout_id: str) -> CheckoutRecord:
    nonce = request.cookies.get(CHECKOUT_COOKIE) or request.headers.get("X-Checkout-Nonce")
    return owned_checkout(container(), shop(), checkout_id, nonce)


def _status_response(checkout: CheckoutRecord) -> Response:
    status = checkout_status(container(), shop(), checkout)
    resp = jsonify(status.model_dump())
    resp.headers["Cache-Control"] = "no-store"
    if status.order is not None and status.order_id is not None:
        set_order_cookie(resp, status.order_id, status.order.reference)
    return resp


@bp.get("/<checkout_id>/status")
@documented(
    "State of a checkout, for its owner only (kassa_checkout cookie)",
    response=CheckoutStatus,
    headers={"X-Checkout-Nonce": "optional"},
    errors={404: "checkout_not_found", 503: "payment_provider_unavailable"},
)
def status(checkout_id: str) -> Response:
    return _status_response(_owned(checkout_id))


@bp.post("/<checkout_id>/cancel")
@documented(
    "Abandon an unpaid checkout: expire its session and release its stock",
    response=CheckoutStatus,
    headers={"X-Checkout-Nonce": "optional"},
    errors={404: "checkout_not_found", 503: "payment_provider_unavailable"},
)
def cancel(checkout_id: str) -> Response:
    checkout = _owned(checkout_id)
    cancel_checkout(container(), shop(), checkout)
    return _status_response(_owned(checkout_id))

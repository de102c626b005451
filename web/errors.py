"""The one place where errors become HTTP: every 4xx/5xx leaves in the contract's shape."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException, TooManyRequests

from checkout import errors as e
from web.csrf import CsrfFailed
from web.limits import retry_after_seconds

log = logging.getLogger(__name__)

STATUS: dict[type[e.KassaError], int] = {
    e.InvalidRequest: 422,
    e.InvalidJson: 400,
    e.ShopRequired: 400,
    e.ShopNotFound: 404,
    e.UnknownSku: 404,
    e.UnknownLine: 404,
    e.EmptyCart: 422,
    e.UnknownShippingOption: 422,
    e.UnknownCoupon: 422,
    e.CurrencyMismatch: 422,
    e.IdempotencyKeyRequired: 400,
    e.IdempotencyKeyReused: 422,
    e.OutOfStock: 409,
    e.CheckoutNotFound: 404,
    e.CheckoutInProgress: 409,
    e.OrderNotFound: 404,
    e.WindowClosed: 409,
    e.RefundExceedsCaptured: 409,
    e.OrderNotChangeable: 409,
    e.AmountIncreaseNotAllowed: 409,
    e.WindowClosing: 409,
    e.PaymentProviderUnavailable: 503,
    e.StockUnavailable: 503,
    e.Unauthorized: 401,
    e.WebhookRejected: 400,
    e.NotFound: 404,
    e.StockBelowReserved: 409,
    e.ShopExists: 409,
    e.AlreadyExists: 409,
    e.CatalogImportRejected: 422,
    CsrfFailed: 403,
}

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "rate_limited",
    501: "not_implemented",
    503: "service_unavailable",
}


def error_response(status: int, code: str, message: str, details: object = None) -> Response:
    resp = jsonify({"error": {"code": code, "message": message, "details": details}})
    resp.status_code = status
    return resp


def status_for(exc: e.KassaError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(e.KassaError)
    def kassa_error(exc: e.KassaError) -> Response:
        resp = error_response(status_for(exc), exc.code, exc.message, exc.details)
        if exc.retry_after is not None:
            resp.headers["Retry-After"] = str(exc.retry_after)
        return resp

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        message = exc.description or exc.name
        if status == 429:
            message = "Too many requests; retry after the number of seconds in Retry-After."
        resp = error_response(status, _HTTP_CODES.get(status, "http_error"), message)
        if isinstance(exc, TooManyRequests):
            resp.headers["Retry-After"] = str(retry_after_seconds(exc))
        for header in ("Retry-After", "Allow"):
            if exc.response is not None and header in exc.response.headers:
                resp.headers[header] = exc.response.headers[header]
        return resp

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response:
        log.exception("unhandled error")
        return error_response(500, "internal_error", "An unexpected error occurred.")


def register_transient_handlers(app: Flask) -> None:
    """A database or Redis outage is the server's fault and temporary: 503, so clients retry."""
    import psycopg
    import psycopg_pool
    import redis

    @app.errorhandler(psycopg.OperationalError)
    @app.errorhandler(psycopg_pool.PoolTimeout)
    @app.errorhandler(redis.ConnectionError)
    @app.errorhandler(redis.TimeoutError)
    def unavailable(exc: Exception) -> Response:
        log.warning("backing service unavailable", extra={"error_type": type(exc).__name__})
        resp = error_response(503, "service_unavailable", "A backing service is unavailable.")
        resp.headers["Retry-After"] = "1"
        return resp

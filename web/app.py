"""The Flask app factory: thin views over the checkout services, wired to one container."""

from __future__ import annotations

import logging
import time

from flask import Flask, Response, g, request

from kassa.bootstrap import Container
from kassa.logs import accept_request_id, request_id_var
from web import (
    admin_catalog,
    admin_events,
    admin_orders,
    admin_shops,
    admin_stock,
    cart,
    catalog,
    checkout,
    console,
    health,
    ops,
    orders,
    storefront,
    webhooks,
)
from web.errors import register_error_handlers, register_transient_handlers
from web.limits import init_limits
from web.metrics import LATENCY, REQUESTS
from web.requests import MAX_BODY_BYTES, reject_unsafe_text
from web.tenancy import register_tenancy

log = logging.getLogger("kassa.web")


def create_app(container: Container) -> Flask:
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=container.settings.secret_key,
        MAX_CONTENT_LENGTH=MAX_BODY_BYTES,
        # The storefront's flash messages ride in Flask's session cookie: held like ours.
        SESSION_COOKIE_NAME="kassa_flash",
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=container.settings.public_url.startswith("https://"),
    )
    app.extensions["kassa"] = container
    register_error_handlers(app)
    register_transient_handlers(app)

    @app.before_request
    def start_request() -> None:
        g.started = time.perf_counter()
        g.request_id = accept_request_id(request.headers.get("X-Request-Id"))
        request_id_var.set(g.request_id)

    app.before_request(reject_unsafe_text)  # before tenancy reads X-Shop-Id
    register_tenancy(app)
    init_limits(app, container.settings.redis_url, container.settings.trusted_proxy_count)

    @app.after_request
    def finish_request(resp: Response) -> Response:
        resp.headers["X-Request-Id"] = g.get("request_id", "")
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("Referrer-Policy", "no-referrer")
        endpoint = request.endpoint or "unmatched"
        elapsed = time.perf_counter() - g.get("started", time.perf_counter())
        REQUESTS.labels(request.method, endpoint, str(resp.status_code)).inc()
        LATENCY.labels(request.method, endpoint).observe(elapsed)
        log.info(
            "request",
            extra={
                "method": request.method,
                "endpoint": endpoint,
                "status": resp.status_code,
                "duration_ms": round(elapsed * 1000, 2),
            },
        )
        return resp

    app.register_blueprint(health.bp)
    app.register_blueprint(ops.bp)
    for admin in (
        admin_shops.bp,
        admin_catalog.bp,
        admin_stock.bp,
        admin_orders.bp,
        admin_events.bp,
    ):
        app.register_blueprint(admin)
    for blueprint in (catalog.bp, cart.bp, checkout.bp, orders.bp, webhooks.bp, storefront.bp):
        app.register_blueprint(blueprint)
    app.register_blueprint(console.bp)
    return app

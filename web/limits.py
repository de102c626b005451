"""Rate limits (flask-limiter on Redis): checkout creation per client IP, per shop, and
console sign-in per client IP.

Every limit is a decorator on its view, and a decorated view checks its own limit. So
flask-limiter's ``before_request`` check, which would look up limits for every request
(webhooks, pages, the merchant API) and find none, is taken off the app.

The client IP is the socket's peer unless ``KASSA_TRUSTED_PROXY_COUNT`` says how many
proxies in front of us may be believed (werkzeug's ProxyFix does the counting).
"""

from __future__ import annotations

import time

from flask import Flask, g, request
from flask_limiter import Limiter
from werkzeug.middleware.proxy_fix import ProxyFix

from web.context import container


def client_ip() -> str:
    return request.remote_addr or "unknown"


def _shop_scoped_ip() -> str:
    shop = g.get("shop")
    return f"{shop.id if shop else '-'}:{client_ip()}"


def checkout_limit() -> str:
    shop = g.get("shop")
    return (
        shop.checkout_rate_limit
        if shop and shop.checkout_rate_limit
        else container().settings.checkout_rate_limit
    )


def retry_after_seconds() -> int:
    """Seconds until the breached limit's window resets (for the 429's Retry-After)."""
    current = limiter.current_limit
    return max(1, int(current.reset_at - time.time())) if current else 60


# Headers off: flask-limiter would stamp the window's Retry-After on every response of a
# limited route, including our own 409s that ask for a retry after one second.
limiter = Limiter(
    key_func=_shop_scoped_ip,
    headers_enabled=False,
    in_memory_fallback_enabled=True,
    key_prefix="kassa-limits",
)


def init_limits(app: Flask, redis_url: str, trusted_proxies: int) -> None:
    if trusted_proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=trusted_proxies)  # type: ignore[method-assign]
    app.config["RATELIMIT_STORAGE_URI"] = redis_url
    app.config["RATELIMIT_STORAGE_OPTIONS"] = {"socket_connect_timeout": 1, "socket_timeout": 1}
    limiter.init_app(app)
    app.before_request_funcs[None].remove(limiter._check_request_limit)

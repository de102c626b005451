"""Rate limits: checkout creation per client IP and shop, console sign-in per client IP.

A limited view says so with ``@limited(limit, key)``. The counting is the ``limits``
library's fixed windows in Redis (the engine flask-limiter is built on), called directly:
one Redis call on a limited request and nothing on any other (flask-limiter's machinery
around that call cost about 0.6 ms of CPU per checkout). While Redis cannot be reached,
each process counts in its own memory, so an outage neither turns checkouts into errors
nor lifts the limit.

The client IP is the socket's peer unless ``KASSA_TRUSTED_PROXY_COUNT`` says how many
proxies in front of us may be believed (werkzeug's ProxyFix does the counting).
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from flask import Flask, current_app, g, request
from limits import RateLimitItem, parse
from limits.errors import StorageError
from limits.storage import MemoryStorage, RedisStorage
from limits.strategies import FixedWindowRateLimiter
from werkzeug.exceptions import TooManyRequests
from werkzeug.middleware.proxy_fix import ProxyFix

from web.context import container

P = ParamSpec("P")
R = TypeVar("R")

_EXTENSION = "kassa_limits"


class RateLimits:
    """Fixed-window counters in Redis, or in this process's memory while Redis is away."""

    def __init__(self, redis_url: str) -> None:
        self._shared = FixedWindowRateLimiter(
            RedisStorage(
                redis_url, wrap_exceptions=True, socket_connect_timeout=1, socket_timeout=1
            )
        )
        self._local = FixedWindowRateLimiter(MemoryStorage())

    def hit(self, limit: str, *key: str) -> int | None:
        """Count one request against ``limit`` (e.g. ``10/minute``) for ``key``: None while
        within it, else the seconds until its window resets (for Retry-After)."""
        item = _parse(limit)
        try:
            return _hit(self._shared, item, key)
        except StorageError:
            return _hit(self._local, item, key)


@functools.lru_cache(maxsize=64)
def _parse(limit: str) -> RateLimitItem:
    return parse(limit)


def _hit(limiter: FixedWindowRateLimiter, item: RateLimitItem, key: tuple[str, ...]) -> int | None:
    if limiter.hit(item, *key):
        return None
    reset_at = limiter.get_window_stats(item, *key).reset_time
    return max(1, math.ceil(reset_at - time.time()))


def limited(
    limit: str | Callable[[], str], key: Callable[[], str]
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Refuse the view with 429 (``TooManyRequests`` carrying ``retry_after``) once ``key()``
    has used up ``limit`` (or ``limit()``, read per request) in the current window."""

    def decorate(view: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(view)
        def checked(*args: P.args, **kwargs: P.kwargs) -> R:
            spec = limit() if callable(limit) else limit
            limits: RateLimits = current_app.extensions[_EXTENSION]
            retry_after = limits.hit(spec, view.__qualname__, key())
            if retry_after is not None:
                raise TooManyRequests(retry_after=retry_after)
            return view(*args, **kwargs)

        return checked

    return decorate


def retry_after_seconds(exc: TooManyRequests) -> int:
    """The 429's Retry-After: what the limit said, or a minute."""
    return exc.retry_after if isinstance(exc.retry_after, int) else 60


def client_ip() -> str:
    return request.remote_addr or "unknown"


def shop_scoped_ip() -> str:
    shop = g.get("shop")
    return f"{shop.id if shop else '-'}:{client_ip()}"


def checkout_limit() -> str:
    shop = g.get("shop")
    return (
        shop.checkout_rate_limit
        if shop and shop.checkout_rate_limit
        else container().settings.checkout_rate_limit
    )


def init_limits(app: Flask, redis_url: str, trusted_proxies: int) -> None:
    if trusted_proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=trusted_proxies)  # type: ignore[method-assign]
    app.extensions[_EXTENSION] = RateLimits(redis_url)

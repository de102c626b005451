"""Who is calling ``/admin/*`` and ``/ops/*``: the one place that checks credentials.

* The operator: ``Authorization: Bearer $KASSA_ADMIN_TOKEN`` (constant-time compare).
* A merchant: ``Authorization: Bearer kassa_sk_<id>_<secret>``, a key of exactly one
  shop. The operator token also acts for a shop named by ``X-Shop-Id`` (as ``operator``).

Merchant blueprints call ``register_merchant_auth(bp)``; their views get the shop and the
actor from ``merchant_shop()`` and ``actor()``, and send every write through ``write``
(idempotent by ``Idempotency-Key``, audited with the actor). Anything missing, unknown or
revoked is a 401, and another shop's objects are simply not found (404): fail closed.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import cast

from flask import Blueprint, Response, g, jsonify, request
from pydantic import JsonValue

from checkout.errors import InvalidRequest, Unauthorized
from checkout.shops import shop_by_id
from merchant.api_keys import PREFIX, authenticate
from merchant.writes import Actor, Change, perform
from schemas.records import Shop
from web.context import container

MAX_IDEMPOTENCY_KEY = 255


def bearer_token() -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized()
    return token.strip()


def is_operator(token: str) -> bool:
    expected = container().settings.admin_token
    return bool(expected) and hmac.compare_digest(token.encode(), expected.encode())


def require_operator() -> None:
    """A ``before_request`` hook for operator-only blueprints."""
    if not is_operator(bearer_token()):
        raise Unauthorized()


def require_merchant() -> None:
    """A ``before_request`` hook for merchant blueprints: resolve the caller's shop."""
    token = bearer_token()
    if token.startswith(PREFIX):
        who = authenticate(container(), token)
    elif is_operator(token):
        shop_id = request.headers.get("X-Shop-Id", "").strip()
        if not shop_id:
            raise Unauthorized("The operator token acts for the shop named by X-Shop-Id.")
        who = Actor(shop_id=shop_id, label="operator")
    else:
        raise Unauthorized()
    shop = shop_by_id(container(), who.shop_id)
    if shop is None:
        raise Unauthorized()
    g.merchant_actor, g.merchant_shop = who, shop


def register_merchant_auth(bp: Blueprint) -> None:
    bp.before_request(require_merchant)


def actor() -> Actor:
    return cast(Actor, g.merchant_actor)


def merchant_shop() -> Shop:
    return cast(Shop, g.merchant_shop)


def write(
    action: str, subject: str | None, change: Change, details: dict[str, JsonValue] | None = None
) -> Response:
    """Run a merchant write once per Idempotency-Key; a replay answers what the first did
    (with ``Idempotent-Replayed: true``), the same key on another request is a 422."""
    key = request.headers.get("Idempotency-Key", "").strip() or None
    if key is not None and len(key) > MAX_IDEMPOTENCY_KEY:
        raise InvalidRequest("The Idempotency-Key is too long (at most 255 characters).")
    fingerprint = hashlib.sha256(
        b"\n".join(
            [request.method.encode(), request.full_path.encode(), request.get_data(cache=True)]
        )
    ).hexdigest()
    result = perform(
        container(),
        actor(),
        action,
        subject,
        change,
        idempotency_key=key,
        fingerprint=fingerprint,
        details=details,
    )
    resp = jsonify(result.body)
    resp.status_code = result.status
    if result.replayed:
        resp.headers["Idempotent-Replayed"] = "true"
    resp.headers["Cache-Control"] = "no-store"
    return resp

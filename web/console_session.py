"""The merchant console's session: a signed, HttpOnly cookie that names who is signed in.

The cookie holds the shop, the actor label (``api_key:<id>`` or ``operator``) and the key
id, signed and timestamped with the app's secret key; never the key or the token. Every
request checks it again against the database: a revoked key, a key moved to another shop,
a changed operator token or a deleted shop ends the session at once, however fresh the
cookie. For the operator, a keyed hash of the token is kept, so changing
``KASSA_ADMIN_TOKEN`` signs every operator out without the token being in the cookie.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from flask import current_app, request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.wrappers import Response

from checkout.shops import shop_by_id
from merchant.api_keys import key_still_valid
from merchant.writes import Actor
from schemas.records import Shop
from web.context import container
from web.cookies import secure_cookies

SESSION_COOKIE = "kassa_console"
SESSION_PATH = "/console"
SESSION_SECONDS = 8 * 3600
"""A working day; after that the merchant signs in again."""


@dataclass(frozen=True)
class ConsoleSession:
    shop: Shop
    actor: Actor


def _signer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="kassa-console")


def operator_fingerprint(token: str) -> str:
    """A keyed hash of the operator token: it tells whether the token changed, and a
    stolen cookie does not reveal the token."""
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, token.encode(), hashlib.sha256).hexdigest()


def start_session(resp: Response, actor: Actor) -> None:
    data = {"shop": actor.shop_id, "actor": actor.label, "key": actor.key_id}
    if actor.key_id is None:
        data["op"] = operator_fingerprint(container().settings.admin_token)
    resp.set_cookie(
        SESSION_COOKIE,
        _signer().dumps(data),
        max_age=SESSION_SECONDS,
        httponly=True,
        samesite="Lax",
        secure=secure_cookies(),
        path=SESSION_PATH,
    )


def end_session(resp: Response) -> None:
    resp.delete_cookie(
        SESSION_COOKIE, path=SESSION_PATH, httponly=True, samesite="Lax", secure=secure_cookies()
    )


def current_session() -> ConsoleSession | None:
    """The session of this request, checked against the database; None if there is none
    or it no longer holds (expired, tampered, key revoked, token changed, shop gone)."""
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw:
        return None
    try:
        data = _signer().loads(raw, max_age=SESSION_SECONDS)
    except BadSignature:  # also SignatureExpired
        return None
    if not isinstance(data, dict):
        return None
    shop_id, label, key_id = data.get("shop"), data.get("actor"), data.get("key")
    if not isinstance(shop_id, str) or not isinstance(label, str):
        return None
    c = container()
    if isinstance(key_id, str):
        if not key_still_valid(c, key_id, shop_id):
            return None
    else:
        expected, fingerprint = c.settings.admin_token, data.get("op")
        if not expected or not isinstance(fingerprint, str):
            return None
        if not hmac.compare_digest(fingerprint, operator_fingerprint(expected)):
            return None
        key_id = None
    shop = shop_by_id(c, shop_id)
    if shop is None:
        return None
    return ConsoleSession(shop, Actor(shop_id=shop_id, label=label, key_id=key_id))

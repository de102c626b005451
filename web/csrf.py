"""CSRF tokens for the storefront's HTML forms: a random id in an HttpOnly cookie, and the
same id signed into each form. A cross-site form cannot read the cookie to forge the field.

The JSON API needs none: every ``/api/*`` call must carry the custom ``X-Shop-Id`` header,
which a cross-site form cannot send and a cross-site fetch cannot send without a CORS
preflight that Kassa never grants.
"""

from __future__ import annotations

import hmac
import secrets

from flask import current_app, g, request
from itsdangerous import BadSignature, URLSafeSerializer
from werkzeug.wrappers import Response

from checkout.errors import KassaError
from web.cookies import secure_cookies

CSRF_COOKIE = "kassa_csrf"


class CsrfFailed(KassaError):
    code, message = "csrf_failed", "The form expired; reload the page and try again."


def _signer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="kassa-csrf")


def csrf_token() -> str:
    """The token for forms on this page; creates the browser's id on first use."""
    browser_id = request.cookies.get(CSRF_COOKIE) or g.get("new_csrf_id")
    if not browser_id:
        browser_id = g.new_csrf_id = secrets.token_urlsafe(16)
    return _signer().dumps(browser_id)


def attach_csrf_cookie(resp: Response) -> Response:
    if g.get("new_csrf_id"):
        resp.set_cookie(
            CSRF_COOKIE,
            g.new_csrf_id,
            httponly=True,
            samesite="Lax",
            secure=secure_cookies(),
            path="/",
        )
    return resp


def require_csrf() -> None:
    browser_id = request.cookies.get(CSRF_COOKIE)
    try:
        signed = _signer().loads(request.form.get("csrf_token", ""))
    except BadSignature:
        raise CsrfFailed() from None
    if not browser_id or not isinstance(signed, str) or not hmac.compare_digest(signed, browser_id):
        raise CsrfFailed()

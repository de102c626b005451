"""Signing merchant webhooks, and the helper a receiver uses to check them.

The scheme is Stripe's: ``Kassa-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
"<t>.<body>">`` with the endpoint's own secret. The timestamp is inside the signed string,
so a receiver that rejects old (and future) timestamps rejects a replayed delivery, and one
that keeps the event ids it has seen (each body carries ``id``) ignores a duplicate.

A receiver written in Python can use ``verify`` as it is (it needs only the standard
library); docs/merchant-webhooks.md shows the same check in a few lines of any language.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

HEADER = "Kassa-Signature"
TOLERANCE_SECONDS = 300


class SignatureError(ValueError):
    """The delivery is not authentic, or too old or too new to trust."""


def signature(secret: str, timestamp: int, body: bytes) -> str:
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The ``Kassa-Signature`` header value for this body, now (or at ``timestamp``)."""
    t = int(time.time()) if timestamp is None else timestamp
    return f"t={t},v1={signature(secret, t, body)}"


def verify(
    body: bytes,
    header: str | None,
    secret: str,
    *,
    tolerance: int = TOLERANCE_SECONDS,
    now: float | None = None,
) -> dict[str, Any]:
    """The event, if ``header`` signs ``body`` with ``secret`` within ``tolerance`` seconds of
    now (either way); raises ``SignatureError`` otherwise. Several ``v1`` values are allowed
    (a secret being rotated)."""
    if not header:
        raise SignatureError(f"missing {HEADER} header")
    parts = [p.split("=", 1) for p in header.split(",")]
    fields = [(k.strip(), v.strip()) for k, v in (p for p in parts if len(p) == 2)]
    stamps = [v for k, v in fields if k == "t"]
    candidates = [v for k, v in fields if k == "v1"]
    if len(stamps) != 1 or not stamps[0].isdigit() or not candidates:
        raise SignatureError(f"malformed {HEADER} header")
    timestamp = int(stamps[0])
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise SignatureError("timestamp outside the tolerance (a replay, or a skewed clock)")
    expected = signature(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, c) for c in candidates):
        raise SignatureError("signature mismatch")
    event: dict[str, Any] = json.loads(body)
    return event

"""Webhook signatures exactly as Stripe makes them, so `stripe.Webhook` verifies them.

`Stripe-Signature: t=<unix>,v1=<hex>`: HMAC-SHA256 keyed by the whole `whsec_...`
secret over `"{t}.{body}"`, no spaces (the SDK does not trim them).
"""

from __future__ import annotations

import hashlib
import hmac


def signature(secret: str, body: bytes, timestamp: int) -> str:
    signed = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signature_header(secret: str, body: bytes, timestamp: int) -> str:
    return f"t={timestamp},v1={signature(secret, body, timestamp)}"

"""The identity of a checkout intent: a deterministic key, so a retry or a double-click finds
the checkout it already made, and two buyers with identical carts never share one."""

from __future__ import annotations

import hashlib
import hmac
import json
from uuid import UUID


def _digest(payload: object) -> str:
    return hashlib.sha256(
        json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()


def cart_hash(
    shop_id: str,
    quantities: dict[str, int],
    shipping_option_id: str | None,
    coupon: str | None,
    currency: str,
) -> str:
    """What is being bought, normalized (sorted lines, no prices): equal carts hash equal."""
    return _digest(
        {
            "shop": shop_id,
            "lines": sorted(quantities.items()),
            "shipping": shipping_option_id,
            "coupon": coupon,
            "currency": currency,
        }
    )


def intent_key(shop_id: str, *, cart_id: str | None, client_key: str | None, content: str) -> str:
    """The client's Idempotency-Key scoped to the shop wins; otherwise cart id plus content."""
    if client_key is not None:
        return _digest({"shop": shop_id, "client_key": client_key})
    assert cart_id is not None, "a cart or a client key is required"
    return _digest({"shop": shop_id, "cart": cart_id, "content": content})


def stripe_key(checkout_id: UUID) -> str:
    """Stripe's idempotency key for the session of one checkout row: a twin request or a
    retry sends it again and gets the same session; a new attempt after failure is a new row."""
    return f"kassa-checkout-{checkout_id}"


def checkout_nonce(secret: str, checkout_id: UUID) -> str:
    """The browser's proof of ownership. Derived with the server's secret so that twin
    requests can hand out the same cookie while only its hash is stored."""
    return hmac.new(secret.encode(), f"checkout-nonce:{checkout_id}".encode(), "sha256").hexdigest()


def hash_secret(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def same_secret(value: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(value), stored_hash)

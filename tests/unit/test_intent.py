"""The identity of a checkout intent must not drift: a changed hash would make every retry
of a live checkout look like a new purchase. The golden values below pin it; if one fails,
the change is deliberate only if live checkouts can tolerate their keys changing."""

from __future__ import annotations

import hashlib
from uuid import UUID

from checkout.intent import (
    cart_hash,
    checkout_nonce,
    hash_secret,
    intent_key,
    same_secret,
    stripe_key,
)

CART = {"MUG-WHITE": 2, "TSHIRT-BLUE-M": 1}
GOLDEN_CART_HASH = "39898604f4aaeeca7b9e95b609cecbc8562135522c1b073ff5b4962ceab277bd"
GOLDEN_INTENT_KEY = "836232669a37c198b6b840c84493e3f3682950436edbf0cc61b2c902b56d3cc6"


def test_cart_hash_is_pinned() -> None:
    canonical = (
        b'{"coupon":"WELCOME10","currency":"usd","lines":[["MUG-WHITE",2],["TSHIRT-BLUE-M",1]],'
        b'"shipping":"standard","shop":"demo"}'
    )
    assert hashlib.sha256(canonical).hexdigest() == GOLDEN_CART_HASH  # the documented form
    assert cart_hash("demo", CART, "standard", "WELCOME10", "usd") == GOLDEN_CART_HASH


def test_cart_hash_ignores_line_order_but_not_content() -> None:
    base = cart_hash("demo", CART, "standard", None, "usd")
    assert cart_hash("demo", dict(reversed(CART.items())), "standard", None, "usd") == base
    variants = [
        cart_hash("other", CART, "standard", None, "usd"),
        cart_hash("demo", {**CART, "MUG-WHITE": 3}, "standard", None, "usd"),
        cart_hash("demo", CART, "pickup", None, "usd"),
        cart_hash("demo", CART, "standard", "WELCOME10", "usd"),
        cart_hash("demo", CART, "standard", None, "jpy"),
    ]
    assert base not in variants and len(set(variants)) == len(variants)


def test_intent_key_is_pinned_and_scoped() -> None:
    content = cart_hash("demo", CART, None, None, "usd")
    by_cart = intent_key("demo", cart_id="cart-1", client_key=None, content=content)
    assert by_cart == GOLDEN_INTENT_KEY
    assert intent_key("demo", cart_id="cart-2", client_key=None, content=content) != by_cart
    by_client = intent_key("demo", cart_id="cart-1", client_key="k-1", content=content)
    assert by_client == intent_key("demo", cart_id=None, client_key="k-1", content="other")
    assert by_client != intent_key("shop2", cart_id=None, client_key="k-1", content=content)


def test_stripe_key_and_nonce_derive_from_the_checkout_row() -> None:
    checkout_id = UUID("00000000-0000-4000-8000-000000000001")
    assert stripe_key(checkout_id) == "kassa-checkout-00000000-0000-4000-8000-000000000001"
    nonce = checkout_nonce("secret", checkout_id)
    assert nonce == checkout_nonce("secret", checkout_id) != checkout_nonce("other", checkout_id)
    assert same_secret(nonce, hash_secret(nonce)) and not same_secret("guess", hash_secret(nonce))

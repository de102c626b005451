"""Object ids in Stripe's style: a type prefix and a random base62 tail."""

from __future__ import annotations

import secrets
import string

_ALPHABET = string.ascii_letters + string.digits

# Tail lengths as seen on real test-mode objects.
_TAIL_LENGTHS = {
    "cs_test": 58,
    "cus": 14,
    "req": 14,
    "whsec": 32,
    "prod": 14,
}


def random_token(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def new_id(prefix: str) -> str:
    return f"{prefix}_{random_token(_TAIL_LENGTHS.get(prefix, 24))}"

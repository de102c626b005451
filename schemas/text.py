"""Strings from outside, fit for Postgres, Redis and logs before any of them sees them.

Postgres refuses a NUL byte in ``text`` (and ``\\u0000`` in ``jsonb``), and a lone UTF-16
surrogate (which JSON's ``"\\ud800"`` decodes to) cannot be encoded as UTF-8 by psycopg or
redis-py: either way the request would die as a 500 deep inside a use case. Control
characters in an identifier are never legitimate and make log lines lie. So every string a
client sends is checked here, once, at the boundary, and a bad one is a 4xx.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field

MAX_IDENTIFIER = 64
"""SKUs, coupon codes, shipping option ids: what the catalog import accepts."""

MAX_PARAMETER = 255
"""Path segments, query values and headers (shop ids, references, keys: Stripe's
idempotency keys go up to 255 characters, so ours may too)."""

PRINTABLE = r"^[^\x00-\x1f\x7f-\x9f]*$"
"""The documented form of the rule (JSON Schema ``pattern``), for the OpenAPI document."""

_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
"""C0 and C1 control characters, DEL, and lone surrogates (which no pattern can describe)."""

CONTROL_CHARACTERS = "must not contain control characters or lone surrogates"


def text_problem(value: str, max_length: int) -> str | None:
    """Why ``value`` may not go further, or None when it may."""
    if len(value) > max_length:
        return f"must be at most {max_length} characters"
    if _FORBIDDEN.search(value):
        return CONTROL_CHARACTERS
    return None


def printable(value: str) -> str:
    """``value`` unchanged; ValueError (a pydantic validation error) if it holds the forbidden."""
    if _FORBIDDEN.search(value):
        raise ValueError(CONTROL_CHARACTERS)
    return value


SafeText = Annotated[
    str, AfterValidator(printable), Field(json_schema_extra={"pattern": PRINTABLE})
]
"""No control characters, no lone surrogates; bound its length with ``Field``."""

Identifier = Annotated[SafeText, Field(min_length=1, max_length=MAX_IDENTIFIER)]
"""A SKU, coupon code or shipping option id as a client names it."""

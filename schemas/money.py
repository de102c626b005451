"""The one type for money: an exact int of minor units. Floats are refused, not rounded."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import BeforeValidator, Field


def exact_int(value: Any) -> Any:
    """Accept ints and integral Decimals (Postgres numeric); refuse floats and bools outright.

    A float that happens to be integral is still refused: its presence means some
    code path computed money in binary floating point, which is the bug to catch.
    """
    if isinstance(value, bool) or isinstance(value, float):
        raise ValueError("money must be an integer of minor units, never a float or bool")
    if isinstance(value, Decimal):
        if value != value.to_integral_value():
            raise ValueError("money must be a whole number of minor units")
        return int(value)
    return value


MinorUnits = Annotated[int, BeforeValidator(exact_int), Field(ge=0)]
"""A non-negative amount in the currency's smallest unit (cents, yen)."""

Quantity = Annotated[int, BeforeValidator(exact_int), Field(ge=1, le=999)]

MAX_PRICE = 99_999_999
"""The most a merchant may set as one price, fee or discount: Stripe's limit for one charge in
most currencies (999,999.99 USD). More could never be paid, and could overflow a ``bigint``
once multiplied by a quantity."""

Price = Annotated[MinorUnits, Field(le=MAX_PRICE)]
"""A merchant-set amount (price, shipping fee, fixed discount)."""

"""Money is an exact int of minor units: floats are refused at every boundary."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import BaseModel, ValidationError

from checkout.money import parse_amount
from schemas.money import MinorUnits


class Priced(BaseModel):
    amount: MinorUnits


def test_ints_and_integral_decimals_are_accepted() -> None:
    assert Priced(amount=1999).amount == 1999
    coerced = Priced(amount=Decimal("1999")).amount
    assert coerced == 1999 and type(coerced) is int


@pytest.mark.parametrize("bad", [19.99, 20.0, Decimal("19.5"), True, -1, "abc"])
def test_floats_fractions_bools_and_negatives_are_refused(bad: object) -> None:
    with pytest.raises(ValidationError):
        Priced(amount=bad)


@pytest.mark.parametrize(
    ("typed", "exponent", "minor"),
    [("12.5", 2, 1250), ("12", 2, 1200), ("0.01", 2, 1), (" 3.10 ", 2, 310), ("1500", 0, 1500)],
)
def test_typed_amounts_become_minor_units(typed: str, exponent: int, minor: int) -> None:
    assert parse_amount(typed, exponent) == minor


@pytest.mark.parametrize(
    ("typed", "exponent"),
    [
        ("1.234", 2),
        ("1.5", 0),
        ("-1", 2),
        ("1e3", 2),
        ("\u00b2", 2),
        ("", 2),
        ("1.", 2),
        ("1,5", 2),
    ],
)
def test_anything_else_typed_is_not_an_amount(typed: str, exponent: int) -> None:
    assert parse_amount(typed, exponent) is None

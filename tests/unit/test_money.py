"""Money is an exact int of minor units: floats are refused at every boundary."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import BaseModel, ValidationError

from checkout.money import format_amount, locale_for, parse_amount
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


@pytest.mark.parametrize(
    ("amount", "currency", "exponent", "shown"),
    [
        (6600, "usd", 2, "$66.00"),
        (5, "usd", 2, "$0.05"),
        (-240, "usd", 2, "-$2.40"),
        (123456789, "usd", 2, "$1,234,567.89"),
        (2800, "jpy", 0, "¥2,800"),  # the yen has no minor unit
        (1500, "eur", 2, "€15.00"),
        (1500, "gbp", 2, "£15.00"),
        (12345, "kwd", 3, "KWD12.345"),  # three decimals, none lost
    ],
)
def test_amounts_read_as_people_read_them(
    amount: int, currency: str, exponent: int, shown: str
) -> None:
    assert format_amount(amount, currency, exponent) == shown


def test_the_locale_can_be_given_and_defaults_to_the_currency_home() -> None:
    assert locale_for("jpy") == "en_JP" and locale_for("xyz") == "en"
    assert format_amount(150000, "eur", 2, locale="de_DE") == "1.500,00\xa0€"

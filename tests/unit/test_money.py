"""Money is an exact int of minor units: floats are refused at every boundary."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import BaseModel, ValidationError

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

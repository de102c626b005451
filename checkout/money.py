"""The one module that does arithmetic on or formats money. Integers of minor units only."""

from __future__ import annotations

import re

_AMOUNT = re.compile(r"(?P<whole>[0-9]{1,12})(?:\.(?P<frac>[0-9]+))?")


def percent_of(amount: int, percent: int) -> int:
    """Floor of ``amount * percent / 100`` in integer arithmetic: a discount never rounds up."""
    return amount * percent // 100


def format_amount(amount: int, currency: str, exponent: int) -> str:
    """``1999, usd, 2`` → ``"19.99 USD"``; ``1500, jpy, 0`` → ``"1500 JPY"``."""
    sign = "-" if amount < 0 else ""
    whole, frac = divmod(abs(amount), 10**exponent)
    digits = f"{whole}.{frac:0{exponent}d}" if exponent else str(whole)
    return f"{sign}{digits} {currency.upper()}"


def parse_amount(text: str, exponent: int) -> int | None:
    """``"12.5", 2`` → ``1250``: an amount typed by a person, in major units, to minor units
    without floats. None if it is not a plain non-negative number with at most ``exponent``
    decimals."""
    found = _AMOUNT.fullmatch(text.strip())
    if found is None:
        return None
    whole, frac = found.group("whole"), found.group("frac") or ""
    if len(frac) > exponent:
        return None
    scale: int = 10**exponent
    return int(whole) * scale + int(frac.ljust(exponent, "0") or "0")

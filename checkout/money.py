"""The one module that does arithmetic on or formats money. Integers of minor units only."""

from __future__ import annotations


def percent_of(amount: int, percent: int) -> int:
    """Floor of ``amount * percent / 100`` in integer arithmetic: a discount never rounds up."""
    return amount * percent // 100


def format_amount(amount: int, currency: str, exponent: int) -> str:
    """``1999, usd, 2`` → ``"19.99 USD"``; ``1500, jpy, 0`` → ``"1500 JPY"``."""
    sign = "-" if amount < 0 else ""
    whole, frac = divmod(abs(amount), 10**exponent)
    digits = f"{whole}.{frac:0{exponent}d}" if exponent else str(whole)
    return f"{sign}{digits} {currency.upper()}"

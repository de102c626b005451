"""The one module that does arithmetic on or formats money. Integers of minor units only.

Amounts are shown the way a shopper reads them, in the shop's currency and locale, by Babel
(CLDR data): ``$66.00``, ``¥2,800`` (the yen has no minor unit). Shops carry no locale of
their own yet, so the storefront's language (English) in the currency's home country stands
in for it (see docs/storefront.md).
"""

from __future__ import annotations

import re
from decimal import Decimal

from babel.numbers import format_currency

_AMOUNT = re.compile(r"(?P<whole>[0-9]{1,12})(?:\.(?P<frac>[0-9]+))?")
_LOCALES = {
    "usd": "en_US",
    "jpy": "en_JP",
    "gbp": "en_GB",
    "eur": "en_IE",
    "cad": "en_CA",
    "aud": "en_AU",
    "nzd": "en_NZ",
    "sgd": "en_SG",
    "chf": "en_CH",
}
DEFAULT_LOCALE = "en"


def percent_of(amount: int, percent: int) -> int:
    """Floor of ``amount * percent / 100`` in integer arithmetic: a discount never rounds up."""
    return amount * percent // 100


def locale_for(currency: str) -> str:
    """The locale a shop selling in ``currency`` shows its prices in."""
    return _LOCALES.get(currency.lower(), DEFAULT_LOCALE)


def format_amount(amount: int, currency: str, exponent: int, locale: str | None = None) -> str:
    """``1999, usd, 2`` → ``"$19.99"``; ``1500, jpy, 0`` → ``"¥1,500"``.

    ``exponent`` (from the currencies table) turns minor units into an exact Decimal; Babel
    never rounds it (``decimal_quantization=False``), so a shown amount is the charged one.
    """
    major = Decimal(amount).scaleb(-exponent)
    return format_currency(
        major, currency.upper(), locale=locale or locale_for(currency), decimal_quantization=False
    )


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

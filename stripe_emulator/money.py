"""Money helpers: currency exponents, formatting (plain for error messages, localised by
Babel for the hosted page) and Stripe's minimum charges.

Amounts are always integers of minor units; nothing else in the emulator converts them.
"""

from __future__ import annotations

from decimal import Decimal

from babel import Locale, UnknownLocaleError
from babel.numbers import format_currency

_ZERO_DECIMAL = frozenset(
    {
        "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga",
        "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf",
    }
)  # fmt: skip
_THREE_DECIMAL = frozenset({"bhd", "jod", "kwd", "omr", "tnd"})

# Stripe's minimum charge per settlement currency, in minor units (the common ones).
_MINIMUM_CHARGE = {
    "aud": 50,
    "brl": 50,
    "cad": 50,
    "chf": 50,
    "czk": 1500,
    "dkk": 250,
    "eur": 50,
    "gbp": 30,
    "hkd": 400,
    "huf": 17500,
    "inr": 50,
    "jpy": 50,
    "mxn": 1000,
    "nok": 300,
    "nzd": 50,
    "pln": 200,
    "sek": 300,
    "sgd": 50,
    "usd": 50,
}


def exponent(currency: str) -> int:
    currency = currency.lower()
    if currency in _ZERO_DECIMAL:
        return 0
    if currency in _THREE_DECIMAL:
        return 3
    return 2


def format_amount(amount: int, currency: str) -> str:
    """`1234, "usd"` gives `12.34 USD`; `1500, "jpy"` gives `1,500 JPY`."""
    places = exponent(currency)
    sign = "-" if amount < 0 else ""
    whole, fraction = divmod(abs(amount), 10**places)
    text = f"{whole:,}"
    if places:
        text += f".{fraction:0{places}d}"
    return f"{sign}{text} {currency.upper()}"


def display_amount(amount: int, currency: str, locale: str | None = None) -> str:
    """As the hosted page shows it, in the session's ``locale`` (English when it is unset,
    ``auto`` or unknown): ``$12.50``, ``¥1,500``, ``KWD1.500``."""
    try:
        chosen = Locale.parse(locale.replace("-", "_")) if locale and locale != "auto" else None
    except (UnknownLocaleError, ValueError):
        chosen = None
    return format_currency(
        Decimal(amount).scaleb(-exponent(currency)),
        currency.upper(),
        locale=chosen or "en",
        decimal_quantization=False,
    )


def minimum_charge(currency: str) -> int | None:
    return _MINIMUM_CHARGE.get(currency.lower())

"""The words a shopper reads about an order, shared by the order page, the success page and
the confirmation email, so the three never tell different stories: when it was placed,
where it goes and how it was paid. Amounts are formatted by checkout.money alone."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from babel.dates import format_datetime

from checkout.money import locale_for

_PAYMENT = {
    "paid": "Paid through Stripe.",
    "captured": "Paid through Stripe.",
    "authorized": "Payment authorised through Stripe; you are charged when the change window closes.",
    "capturing": "Payment authorised through Stripe; the charge is being taken now.",
    "capture_failed": "The payment could not be completed, so the order is cancelled and nothing was charged.",
    "cancelled": "Cancelled; the authorisation was released and you were not charged.",
    "refunded": "Paid through Stripe, then refunded in full.",
    "stock_conflict": "An item sold out before the payment arrived; the payment is refunded in full.",
}


def placed_on(created_at: datetime, currency: str) -> str:
    """``30 Nov 2026, 23:04 UTC`` in the shop's locale; shown in UTC, since the server cannot
    know the shopper's time zone without JavaScript."""
    when = format_datetime(
        created_at.astimezone(UTC), "d MMM y, HH:mm", tzinfo=UTC, locale=locale_for(currency)
    )
    return f"{when} UTC"


def payment_note(status: str, refunded_amount: int) -> str:
    """How the order was paid, in a sentence. Kassa does not record the payment method (card,
    bank debit), so it names Stripe and what happened to the money."""
    if status not in ("refunded", "stock_conflict") and refunded_amount:
        return "Paid through Stripe; part of it was refunded."
    return _PAYMENT.get(status, "Payment through Stripe.")


def address_lines(name: str | None, address: dict[str, Any] | None) -> list[str]:
    """The delivery address as printed on a parcel (``San Francisco, CA 94103``), leaving
    out whatever is not set."""
    a = {k: str(v) for k, v in (address or {}).items() if v}
    town = ", ".join(a[k] for k in ("city", "state") if k in a)
    locality = " ".join(part for part in (town, a.get("postal_code")) if part)
    candidates = [name, a.get("line1"), a.get("line2"), locality, a.get("country")]
    return [line for line in candidates if line]

"""The words of an order shared by its page, the success page and the email."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from checkout.receipt import address_lines, payment_note, placed_on


def test_the_order_date_is_shown_in_utc_in_the_shop_locale() -> None:
    tokyo_evening = datetime(2026, 12, 1, 8, 5, tzinfo=timezone(timedelta(hours=9)))
    assert placed_on(tokyo_evening, "usd") == "30 Nov 2026, 23:05 UTC"
    assert placed_on(datetime(2026, 1, 2, 3, 4, tzinfo=UTC), "jpy") == "2 Jan 2026, 03:04 UTC"


def test_how_it_was_paid_follows_the_order_status() -> None:
    assert payment_note("paid", 0) == "Paid through Stripe."
    assert "charged when the change window closes" in payment_note("authorized", 0)
    assert "part of it was refunded" in payment_note("captured", 500)
    assert "refunded in full" in payment_note("stock_conflict", 4500)
    assert payment_note("refunded", 4500) == "Paid through Stripe, then refunded in full."


def test_the_address_reads_like_a_parcel_label_skipping_empty_fields() -> None:
    address = {"line1": "7 Canary Row", "line2": None, "city": "Canaryville", "country": "GB"}
    assert address_lines("Ada", address) == ["Ada", "7 Canary Row", "Canaryville", "GB"]
    us = {
        "line1": "510 Townsend St",
        "city": "San Francisco",
        "state": "CA",
        "postal_code": "94103",
    }
    assert address_lines(None, us) == ["510 Townsend St", "San Francisco, CA 94103"]
    assert address_lines(None, None) == []

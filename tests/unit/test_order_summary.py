"""What the success page learns about an order: the change window, counted down."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from checkout.status import order_summary
from schemas.records import OrderRecord, Shop

PLACED = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
SHOP = Shop(
    id="demo",
    name="Demo",
    currency="usd",
    stripe_api_key="sk_test_x",
    stripe_webhook_secret=None,
    storefront_url="https://shop.example",
    hold_ttl_seconds=3600,
    capture_mode="delayed",
    capture_window_seconds=3600,
    checkout_rate_limit=None,
)


def order(status: Any) -> OrderRecord:
    return OrderRecord(
        id=UUID(int=1),
        reference="K-TEST1",
        shop_id="demo",
        checkout_id=UUID(int=2),
        stripe_checkout_session_id="cs_test_1",
        status=status,
        subtotal=1000,
        discount=0,
        shipping=0,
        total=1000,
        currency="usd",
        customer_email="ada@example.com",
        customer_name="Ada",
        shipping_address=None,
        token_hash="t",
        created_at=PLACED,
        window_seconds=3600,
    )


def test_an_authorized_order_counts_down_its_window() -> None:
    summary = order_summary(order("authorized"), PLACED + timedelta(minutes=15))
    assert summary.model_dump() == {
        "reference": "K-TEST1",
        "status": "authorized",
        "modification_allowed": True,
        "remaining_seconds": 2700,
    }


def test_the_window_closes_at_its_end_and_never_goes_negative() -> None:
    at_end = order_summary(order("authorized"), PLACED + timedelta(hours=1))
    later = order_summary(order("authorized"), PLACED + timedelta(days=2))
    for summary in (at_end, later):
        assert (summary.modification_allowed, summary.remaining_seconds) == (False, 0)


def test_a_paid_order_can_change_too_but_a_settled_one_cannot() -> None:
    paid = order_summary(order("paid"), PLACED + timedelta(seconds=1))
    assert (paid.modification_allowed, paid.remaining_seconds) == (True, 3599)
    for status in ("captured", "cancelled", "refunded", "stock_conflict"):
        summary = order_summary(order(status), PLACED)
        assert (summary.status, summary.modification_allowed, summary.remaining_seconds) == (
            status,
            False,
            0,
        )

"""The window's arithmetic: one anchor (the order's creation), closed by status or time, and
a delayed shop's window that always ends before Stripe drops the authorization."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from checkout.window import payment_state, remaining_seconds
from schemas.records import MAX_DELAYED_WINDOW_SECONDS, OrderRecord, PaymentRecord, Shop

CREATED = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def shop(**changes: Any) -> Shop:
    fields: dict[str, Any] = {
        "id": "demo",
        "name": "Demo",
        "currency": "usd",
        "stripe_api_key": "sk_test_x",
        "stripe_webhook_secret": None,
        "storefront_url": "http://127.0.0.1",
        "hold_ttl_seconds": 3600,
        "capture_mode": "delayed",
        "capture_window_seconds": 3600,
        "checkout_rate_limit": None,
    }
    return Shop(**{**fields, **changes})


def order(status: str = "authorized") -> OrderRecord:
    return OrderRecord.model_validate(
        {
            "id": uuid.uuid4(),
            "reference": "K-TEST0001",
            "shop_id": "demo",
            "checkout_id": uuid.uuid4(),
            "stripe_checkout_session_id": "cs_test",
            "status": status,
            "subtotal": 1000,
            "discount": 0,
            "shipping": 0,
            "total": 1000,
            "currency": "usd",
            "customer_email": None,
            "customer_name": None,
            "shipping_address": None,
            "token_hash": "x",
            "created_at": CREATED,
            "window_seconds": 3600,
        }
    )


def test_remaining_time_counts_from_creation_only() -> None:
    assert remaining_seconds(order(), CREATED) == 3600
    assert remaining_seconds(order(), CREATED + timedelta(seconds=3599.5)) == 1
    assert remaining_seconds(order(), CREATED + timedelta(hours=1)) == 0
    assert remaining_seconds(order(), CREATED + timedelta(days=30)) == 0
    assert remaining_seconds(order("paid"), CREATED) == 3600


@pytest.mark.parametrize("status", ["capturing", "captured", "cancelled", "capture_failed"])
def test_a_settled_order_has_no_window_left(status: str) -> None:
    assert remaining_seconds(order(status), CREATED) == 0


def test_a_delayed_window_ends_a_day_before_the_authorization_lapses() -> None:
    assert shop(capture_window_seconds=MAX_DELAYED_WINDOW_SECONDS).capture_window_seconds
    with pytest.raises(ValidationError, match="7-day"):
        shop(capture_window_seconds=MAX_DELAYED_WINDOW_SECONDS + 1)
    # An immediate shop captures at once: its window can be longer.
    assert shop(capture_mode="immediate", capture_window_seconds=8 * 24 * 3600)
    with pytest.raises(ValidationError):
        shop(capture_window_seconds=0)


def test_the_money_state_is_derived_from_the_amounts() -> None:
    def payment(**amounts: Any) -> PaymentRecord:
        base = {"stripe_payment_intent_id": "pi", "amount": 1000, "currency": "usd"}
        return PaymentRecord.model_validate({**base, "refunded_amount": 0, **amounts})

    assert payment_state([payment(status="requires_capture")]) == "authorized"
    assert payment_state([payment(status="succeeded")]) == "captured"
    assert payment_state([payment(status="succeeded", refunded_amount=300)]) == (
        "partially_refunded"
    )
    assert payment_state([payment(status="succeeded", refunded_amount=1000)]) == "refunded"
    voided = payment(status="canceled", capture_method="manual", captured_amount=0)
    voided = voided.model_copy(update={"voided_amount": 1000})
    assert payment_state([voided]) == "voided"
    assert payment_state([]) == "none"
    # Items added during the window: a second payment counts with the first.
    added = payment(status="succeeded", amount=400, refunded_amount=400)
    assert payment_state([payment(status="succeeded"), added]) == "partially_refunded"
    assert payment_state([voided, payment(status="requires_capture")]) == "authorized"

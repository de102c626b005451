"""The modification window: one anchor, the order's creation time, plus the shop's
``capture_window_seconds``. Nothing else (no token, cookie, link or retry) moves it."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from schemas.records import OrderRecord, OrderStatus, PaymentRecord, Shop

OPEN_STATUSES: tuple[OrderStatus, ...] = ("paid", "authorized")
"""An order can change only while paid or authorized: ``capturing`` and everything after
it (captured, cancelled, refunded, failed) is final for the customer."""


def window_end(shop: Shop, order: OrderRecord) -> datetime:
    return order.created_at + timedelta(seconds=shop.capture_window_seconds)


def remaining_seconds(shop: Shop, order: OrderRecord, now: datetime) -> int:
    """Whole seconds left to change the order; 0 once closed (by time or by its status)."""
    if order.status not in OPEN_STATUSES:
        return 0
    return max(0, math.ceil((window_end(shop, order) - now).total_seconds()))


def payment_state(payment: PaymentRecord | None) -> str:
    """The order's money state, derived from its payment row alone."""
    if payment is None:
        return "none"
    if payment.captured_amount == 0:
        return "voided" if payment.voided_amount else "authorized"
    if payment.refunded_amount >= payment.captured_amount:
        return "refunded"
    if payment.refunded_amount:
        return "partially_refunded"
    return "captured"

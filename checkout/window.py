"""The modification window: one anchor, the order's creation time, plus its
``window_seconds`` (the shop's ``capture_window_seconds`` when the order was placed).
Nothing else (no token, cookie, link, retry or later change of the shop's setting)
moves it."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from schemas.records import OrderRecord, OrderStatus, PaymentRecord

OPEN_STATUSES: tuple[OrderStatus, ...] = ("paid", "authorized")
"""An order can change only while paid or authorized: ``capturing`` and everything after
it (captured, cancelled, refunded, failed) is final for the customer."""


def window_end(order: OrderRecord) -> datetime:
    return order.created_at + timedelta(seconds=order.window_seconds)


def remaining_seconds(order: OrderRecord, now: datetime) -> int:
    """Whole seconds left to change the order; 0 once closed (by time or by its status)."""
    if order.status not in OPEN_STATUSES:
        return 0
    return max(0, math.ceil((window_end(order) - now).total_seconds()))


def payment_state(payments: list[PaymentRecord]) -> str:
    """The order's money state, derived from its payment rows alone (all of them: an
    order that had items added has more than one)."""
    if not payments:
        return "none"
    captured = sum(p.captured_amount for p in payments)
    refunded = sum(p.refunded_amount for p in payments)
    if captured == 0:
        return "voided" if all(p.voided_amount for p in payments) else "authorized"
    if refunded >= captured:
        return "refunded"
    if refunded:
        return "partially_refunded"
    return "captured"

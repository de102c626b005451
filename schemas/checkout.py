"""The checkout's boundary models: CartInput → PricedCart → StripeSessionConfig → CheckoutRecord."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field

from schemas.money import MinorUnits
from schemas.records import PricedLine


class PricedCart(BaseModel):
    """A cart repriced from the catalog: the only prices Kassa ever charges."""

    currency: str
    lines: list[PricedLine]
    subtotal: MinorUnits
    discount: MinorUnits
    shipping: MinorUnits
    total: MinorUnits
    shipping_option_id: str | None
    coupon_code: str | None


class CheckoutResponse(BaseModel):
    checkout_id: str
    session_id: str
    url: str
    expires_at: int
    amount_total: MinorUnits
    currency: str


class OrderSummary(BaseModel):
    reference: str
    status: str
    modification_allowed: bool
    remaining_seconds: int


class CheckoutStatus(BaseModel):
    state: Literal["open", "paid", "fulfilled", "stock_conflict", "failed", "expired", "refunded"]
    order: OrderSummary | None
    order_id: UUID | None = Field(default=None, exclude=True)


class OutOfStockLine(BaseModel):
    sku: str
    requested: int
    available: int

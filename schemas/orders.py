"""What an order's owner sees. It carries their own details, so it is never logged."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from schemas.money import MinorUnits


class OrderLineView(BaseModel):
    sku: str
    name: str
    quantity: int
    unit_amount: MinorUnits
    line_total: MinorUnits


class OrderView(BaseModel):
    reference: str
    status: str
    currency: str
    lines: list[OrderLineView]
    subtotal: MinorUnits
    discount: MinorUnits
    shipping: MinorUnits
    total: MinorUnits
    refunded_amount: MinorUnits
    customer_email: str | None
    customer_name: str | None
    shipping_address: dict[str, Any] | None
    created_at: datetime

"""Orders as the merchant sees and changes them (``/admin/orders``). Unlike the buyer's
``OrderView`` these carry the order's history; like it, they hold the customer's details,
so they are never logged."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field, StringConstraints, model_validator

from schemas.api import StrictInput
from schemas.money import MinorUnits
from schemas.orders import OrderView
from schemas.records import OrderActor, PaymentEventKind


class OrderListItem(BaseModel):
    reference: str
    status: str
    currency: str
    total: MinorUnits
    created_at: datetime
    fulfilled_at: datetime | None


class OrderPage(BaseModel):
    orders: list[OrderListItem]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page")


class PaymentEventView(BaseModel):
    kind: PaymentEventKind
    amount: MinorUnits
    stripe_id: str | None
    created_at: datetime


class OrderEventView(BaseModel):
    kind: str
    actor: OrderActor
    total_before: MinorUnits
    total_after: MinorUnits
    details: dict[str, Any]
    created_at: datetime


class MerchantOrder(OrderView):
    fulfilled_at: datetime | None
    tracking_reference: str | None
    refunds_requested: MinorUnits = Field(
        description="every refund asked for so far, done or on its way"
    )
    refundable: MinorUnits = Field(description="captured minus refunds_requested")
    payment_events: list[PaymentEventView]
    events: list[OrderEventView]


class RefundLine(StrictInput):
    line_id: int
    quantity: Annotated[int, Field(ge=1, le=999)]


class RefundRequest(StrictInput):
    """A whole order (neither ``amount`` nor ``lines``), some lines, or an amount."""

    amount: MinorUnits | None = Field(default=None, gt=0)
    lines: list[RefundLine] | None = Field(default=None, min_length=1, max_length=100)
    reason: Annotated[str, StringConstraints(max_length=200)] | None = None

    @model_validator(mode="after")
    def _one_way(self) -> RefundRequest:
        if self.amount is not None and self.lines is not None:
            raise ValueError("give an amount or lines, not both")
        return self


class RefundAccepted(BaseModel):
    reference: str
    amount: MinorUnits
    refunds_requested: MinorUnits
    refundable: MinorUnits


class FulfilRequest(StrictInput):
    tracking_reference: Annotated[
        str, StringConstraints(min_length=1, max_length=100, pattern=r"^[\x20-\x7E]+$")
    ]

"""What an order's owner sees and sends. It carries their own details, so it is never logged."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from schemas.money import MinorUnits, Quantity, exact_int
from schemas.text import Identifier, SafeText

Text = Annotated[SafeText, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
OptionalText = Annotated[SafeText, StringConstraints(strip_whitespace=True, max_length=200)] | None


class OrderLineView(BaseModel):
    id: int
    sku: str
    name: str
    quantity: int
    unit_amount: MinorUnits
    line_total: MinorUnits


class PaymentView(BaseModel):
    """The order's money, from its payment rows: ``state`` is derived from the amounts.
    As ``payment``, the sum of every payment of the order; in ``payments``, one each (the
    order's own first, then one per batch of items added during the window)."""

    state: str
    capture_method: str
    authorized_amount: MinorUnits
    captured_amount: MinorUnits
    voided_amount: MinorUnits
    refunded_amount: MinorUnits


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
    payment: PaymentView | None
    payments: list[PaymentView] = []
    modification_allowed: bool
    remaining_seconds: int
    window_ends_at: datetime
    customer_email: str | None
    customer_name: str | None
    shipping_address: dict[str, Any] | None
    created_at: datetime


class AddressInput(BaseModel):
    """A shipping address, in Stripe's address shape (what checkout stored)."""

    model_config = ConfigDict(extra="forbid")
    line1: Text
    line2: OptionalText = None
    city: Text
    state: OptionalText = None
    postal_code: Annotated[
        SafeText, StringConstraints(strip_whitespace=True, min_length=1, max_length=20)
    ]
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]


class QuantityInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    quantity: Annotated[int, BeforeValidator(exact_int), Field(ge=0, le=999)]


class AddLineInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku: Identifier
    quantity: Quantity

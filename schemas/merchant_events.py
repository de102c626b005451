"""Events out: what a merchant's other systems (ERP, warehouse, accounting) are told.

A payload carries identifiers and the order data the merchant owns (reference, status,
amounts, lines); never the customer's email, name or address: a receiver that needs them
fetches the order with its API key. So a webhook body may be logged by any proxy on the
way without leaking anyone's personal data.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, RootModel

from schemas.money import MinorUnits

EventType = Literal[
    "order.paid",
    "order.cancelled",
    "order.updated",
    "order.refunded",
    "order.fulfilled",
    "stock.low",  # checkout.stock_alerts, when the shop has a low_stock_threshold
]
EVENT_TYPES: tuple[EventType, ...] = (
    "order.paid",
    "order.cancelled",
    "order.updated",
    "order.refunded",
    "order.fulfilled",
    "stock.low",
)


class EventOrderLine(BaseModel):
    sku: str
    name: str
    quantity: int
    unit_amount: MinorUnits
    line_total: MinorUnits


class EventOrder(BaseModel):
    """The order as an event carries it."""

    id: UUID
    reference: str
    status: str
    currency: str
    subtotal: MinorUnits
    discount: MinorUnits
    shipping: MinorUnits
    total: MinorUnits
    created_at: datetime
    lines: list[EventOrderLine]


class StockLow(BaseModel):
    """``data.object`` of ``stock.low``: a SKU's available units (on hand minus reserved,
    over all the shop's locations) fell to the shop's threshold or below."""

    object: Literal["stock_level"] = "stock_level"
    sku: str
    available: int
    threshold: int


class MerchantEvent(BaseModel):
    """One event, as delivered and as listed by ``GET /admin/events``."""

    model_config = ConfigDict(frozen=True)

    object: Literal["event"] = "event"
    id: str
    seq: int = Field(description="position in the shop's feed: the cursor for ?after=")
    shop_id: str
    type: str
    created_at: datetime
    data: dict[str, Any]


class EventPage(BaseModel):
    events: list[MerchantEvent]
    next_after: int | None = Field(description="pass as ?after= for the next page; null at the end")


class WebhookEndpoint(BaseModel):
    """A merchant's receiver. The secret is shown once, when the endpoint is created."""

    model_config = ConfigDict(frozen=True)

    id: UUID
    shop_id: str
    url: str
    event_types: list[str] = Field(description="empty: every event type")
    active: bool
    created_at: datetime


class EndpointList(RootModel[list[WebhookEndpoint]]):
    """``GET /admin/webhook-endpoints``: secrets are never listed."""


class EndpointCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: AnyHttpUrl
    event_types: list[EventType] = Field(
        default_factory=list, max_length=len(EVENT_TYPES), description="empty: every type"
    )


class EndpointCreated(WebhookEndpoint):
    secret: str = Field(description="the signing secret, shown only in this answer")

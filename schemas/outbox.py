"""Outbox messages: the payload of every side effect. Identifiers only, never personal data:
a handler that needs the customer's email reads it from the order when it runs."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from schemas.money import MinorUnits


class Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    shop_id: str


class StockLine(BaseModel):
    sku: str
    quantity: int


class StockMirrorDecrement(Message):
    """Subtract units from the Redis stock mirror, once per dedupe key: units sold by an
    order, or a merchant's stock change (``order_reference`` None; a restock is a negative
    quantity). One kind for every mirror change, so ``kassa reconcile`` treats each one
    still in flight as already counted in Postgres."""

    kind: Literal["stock_mirror.decrement"] = "stock_mirror.decrement"
    order_reference: str | None = None
    lines: list[StockLine]


class PaymentMetadataSync(Message):
    """Write the order reference onto the PaymentIntent (identifiers only)."""

    kind: Literal["stripe.metadata_sync"] = "stripe.metadata_sync"
    payment_intent_id: str
    order_reference: str


class Refund(Message):
    kind: Literal["stripe.refund"] = "stripe.refund"
    order_id: UUID | None
    checkout_id: UUID
    payment_intent_id: str
    amount: MinorUnits
    reason: Literal[
        "stock_conflict",
        "pricing_mismatch",
        "fulfilment_failed",
        "requested_by_customer",
        "requested_by_merchant",
        "duplicate",
        "window_closed",
    ]


class Capture(Message):
    """Capture an authorized payment when the modification window closes."""

    kind: Literal["stripe.capture"] = "stripe.capture"
    order_id: UUID
    payment_intent_id: str


class Void(Message):
    """Cancel an uncaptured PaymentIntent: the authorization is released, nothing is charged."""

    kind: Literal["stripe.void"] = "stripe.void"
    order_id: UUID
    payment_intent_id: str


class ExpireSession(Message):
    """Make a lapsed checkout's Stripe session unpayable."""

    kind: Literal["stripe.expire_session"] = "stripe.expire_session"
    checkout_id: UUID
    session_id: str


class CustomerUpsert(Message):
    kind: Literal["stripe.customer_upsert"] = "stripe.customer_upsert"
    order_id: UUID


class OrderConfirmationEmail(Message):
    kind: Literal["email.order_confirmation"] = "email.order_confirmation"
    order_id: UUID


class OrderChangeEmail(Message):
    """Tell the customer their order changed: cancelled, a new address, fewer items."""

    kind: Literal["email.order_change"] = "email.order_change"
    order_id: UUID
    change: Literal[
        "cancelled",
        "address_changed",
        "quantity_changed",
        "capture_failed",
        "shipped",
        "items_added",
    ]


class CartClear(Message):
    kind: Literal["cart.clear"] = "cart.clear"
    cart_id: str


class MerchantWebhook(Message):
    """Deliver one event to one of the merchant's endpoints (signed, at least once)."""

    kind: Literal["merchant.webhook"] = "merchant.webhook"
    endpoint_id: UUID
    event_id: str


AnyMessage = (
    StockMirrorDecrement
    | PaymentMetadataSync
    | Refund
    | Capture
    | Void
    | ExpireSession
    | CustomerUpsert
    | OrderConfirmationEmail
    | OrderChangeEmail
    | CartClear
    | MerchantWebhook
)

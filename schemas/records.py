"""Rows as they come out of Postgres, validated: what repositories return.

Numeric columns pass through ``MinorUnits``, so a float or a fractional value
coming back from SQL is an error rather than a silently rounded price.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from schemas.money import MinorUnits

CheckoutState = Literal[
    "pending", "open", "fulfilled", "stock_conflict", "failed", "expired", "refunded"
]
HoldState = Literal["active", "committed", "released", "expired"]
OrderStatus = Literal["paid", "authorized", "stock_conflict", "captured", "cancelled", "refunded"]
OutboxState = Literal["pending", "enqueued", "done", "dead"]


class Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class ShopProfile(Record):
    """A shop without its secrets: what lists and operator answers are built from."""

    id: str
    name: str
    currency: str
    storefront_url: str
    hold_ttl_seconds: int
    capture_mode: Literal["immediate", "delayed"]
    capture_window_seconds: int
    checkout_rate_limit: str | None


class Shop(ShopProfile):
    """A shop with its Stripe secrets decrypted (repos/shops.py); kept out of reprs."""

    stripe_api_key: str = Field(repr=False)
    stripe_webhook_secret: str | None = Field(repr=False)


class Product(Record):
    shop_id: str
    sku: str
    product_code: str
    name: str
    attributes: dict[str, str]
    unit_amount: MinorUnits
    currency: str
    active: bool


class ShippingOption(Record):
    id: str
    name: str
    amount: MinorUnits
    active: bool = True


class Coupon(Record):
    code: str
    percent_off: int | None
    amount_off: MinorUnits | None
    active: bool = True


class InventoryLevel(Record):
    sku: str
    location: str
    priority: int
    on_hand: int
    reserved: int

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


class PricedLine(Record):
    """One line of a checkout's price snapshot: the catalog's price at the moment of checkout."""

    sku: str
    name: str
    variant: str
    quantity: int
    unit_amount: MinorUnits
    line_total: MinorUnits


class CheckoutRecord(Record):
    id: UUID
    shop_id: str
    idempotency_key: str
    cart_hash: str
    cart_id: str | None
    lines: list[PricedLine]
    subtotal: MinorUnits
    discount: MinorUnits
    shipping: MinorUnits
    total: MinorUnits
    currency: str
    shipping_option_id: str | None
    coupon_code: str | None
    capture_method: Literal["automatic", "manual"]
    state: CheckoutState
    stripe_session_id: str | None
    stripe_session_url: str | None
    expires_at: datetime
    nonce_hash: str
    created_at: datetime


class HoldLine(Record):
    hold_id: int
    location: str
    sku: str
    quantity: int
    state: HoldState


class OrderRecord(Record):
    id: UUID
    reference: str
    shop_id: str
    checkout_id: UUID
    stripe_checkout_session_id: str
    status: OrderStatus
    subtotal: MinorUnits
    discount: MinorUnits
    shipping: MinorUnits
    total: MinorUnits
    currency: str
    customer_email: str | None
    customer_name: str | None
    shipping_address: dict[str, Any] | None
    token_hash: str
    created_at: datetime


class OrderLineRecord(Record):
    id: int
    sku: str
    name: str
    quantity: int
    unit_amount: MinorUnits
    line_total: MinorUnits


class PaymentRecord(Record):
    stripe_payment_intent_id: str | None
    amount: MinorUnits
    currency: str
    status: str
    refunded_amount: MinorUnits


class OutboxRow(Record):
    id: int
    shop_id: str
    kind: str
    payload: dict[str, Any]
    dedupe_key: str
    state: OutboxState
    attempts: int
    last_error: str | None
    available_at: datetime
    enqueued_at: datetime | None
    done_at: datetime | None
    created_at: datetime


class AuditEvent(Record):
    id: int
    shop_id: str
    kind: str
    subject: str | None
    details: dict[str, Any]
    actor: str | None = None
    created_at: datetime


class ApiKeyRecord(Record):
    id: str
    shop_id: str
    name: str
    secret_hash: str = Field(repr=False)
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class StockLedgerEntry(Record):
    id: int
    sku: str
    location: str
    delta: int
    on_hand_after: int
    reason: str
    actor: str
    created_at: datetime


class IdempotentResponse(Record):
    fingerprint: str
    status_code: int
    response: Any

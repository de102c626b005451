"""Rows as they come out of Postgres, validated: what repositories return.

Numeric columns pass through ``MinorUnits``, so a float or a fractional value
coming back from SQL is an error rather than a silently rounded price.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, Self
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, JsonValue, model_validator

from schemas.money import MinorUnits

CheckoutState = Literal[
    "pending", "open", "fulfilled", "stock_conflict", "failed", "expired", "refunded"
]
HoldState = Literal["active", "committed", "released", "expired"]
Allocation = dict[str, dict[str, int]]
"""Units taken from stock: location -> sku -> quantity."""
OrderStatus = Literal[
    "paid",
    "authorized",
    "capturing",
    "stock_conflict",
    "captured",
    "cancelled",
    "refunded",
    "capture_failed",
    "fulfilled",
]
OrderActor = Literal["customer", "system", "merchant"]
PaymentEventKind = Literal[
    "authorized", "charged", "captured", "voided", "refunded", "capture_failed"
]
MAX_DELAYED_WINDOW_SECONDS = 6 * 24 * 3600
"""Stripe cancels an uncaptured authorization after 7 days; a delayed shop's window must end
a full day before that (also a CHECK on the shops table)."""
OutboxState = Literal["pending", "enqueued", "done", "dead"]


def with_variant(name: str, variant: str) -> str:
    """How a line reads wherever a shopper sees it (cart, Stripe's page, order page, email):
    ``Kassa T-shirt (colour=blue,size=L)``."""
    return f"{name} ({variant})" if variant else name


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
    low_stock_threshold: int | None = None
    """stock.low is sent when a SKU's available units fall to this or below; None: never."""

    @model_validator(mode="after")
    def _window_before_authorization_lapses(self) -> Self:
        if self.capture_window_seconds <= 0:
            raise ValueError("capture_window_seconds must be positive")
        if self.capture_mode == "delayed" and (
            self.capture_window_seconds > MAX_DELAYED_WINDOW_SECONDS
        ):
            raise ValueError(
                "a delayed shop's capture window must end at least a day before Stripe's "
                f"7-day authorization lapses (at most {MAX_DELAYED_WINDOW_SECONDS} s)"
            )
        return self


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

    @property
    def display_name(self) -> str:
        return with_variant(self.name, self.variant)


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
    order_id: UUID | None = None
    """Set on a supplementary checkout: the placed order whose items it adds and pays for."""
    coupon_percent_off: int | None = None
    coupon_amount_off: MinorUnits | None = None
    """The coupon's terms when the checkout was priced: order changes reprice with these."""

    def sold_coupon(self) -> Coupon | None:
        """The coupon as it was sold (None: none, or deleted before its terms were kept)."""
        if self.coupon_code is None or (
            self.coupon_percent_off is None and self.coupon_amount_off is None
        ):
            return None
        return Coupon(
            code=self.coupon_code,
            percent_off=self.coupon_percent_off,
            amount_off=self.coupon_amount_off,
        )


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
    window_seconds: int
    """The modification window's length, the shop's setting when the order was placed."""
    fulfilled_at: datetime | None = None
    tracking_reference: str | None = None


class OrderLineRecord(Record):
    id: int
    sku: str
    name: str
    quantity: int
    unit_amount: MinorUnits
    line_total: MinorUnits
    checkout_id: UUID | None = None
    """The supplementary checkout that added and paid for this line; None: the order's own."""


class PaymentRecord(Record):
    """One payment of an order. ``amount`` is what was authorized (manual capture) or
    charged (automatic); captured, voided and refunded amounts move with its events."""

    stripe_payment_intent_id: str | None
    amount: MinorUnits
    currency: str
    status: str
    refunded_amount: MinorUnits
    capture_method: Literal["automatic", "manual"] = "automatic"
    captured_amount: MinorUnits = 0
    voided_amount: MinorUnits = 0
    checkout_id: UUID | None = None
    """The supplementary checkout this payment paid for; None: the order's own payment."""

    @model_validator(mode="before")
    @classmethod
    def _from_stripe_status(cls, data: Any) -> Any:
        """Fulfilment names the PaymentIntent's status; a new row's capture method and
        captured amount follow from it (``requires_capture``: authorized, not captured)."""
        if isinstance(data, dict) and "capture_method" not in data:
            manual = data.get("status") == "requires_capture"
            data = {
                **data,
                "capture_method": "manual" if manual else "automatic",
                "captured_amount": 0 if manual else data.get("amount", 0),
            }
        return data


class PaymentEvent(Record):
    id: int
    payment_id: int
    kind: PaymentEventKind
    amount: MinorUnits
    stripe_id: str | None
    created_at: datetime


class OrderEvent(Record):
    id: int
    order_id: UUID
    kind: str
    actor: OrderActor
    idempotency_key: str | None
    request_hash: str | None
    total_before: MinorUnits
    total_after: MinorUnits
    details: dict[str, JsonValue]
    created_at: datetime


class OutboxRow(Record):
    id: int
    shop_id: str
    kind: str
    payload: dict[str, JsonValue]
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
    details: dict[str, JsonValue]
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
    response: JsonValue

"""The parts of Stripe's objects that Kassa reads, validated at the boundary."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.money import MinorUnits


class StripeModel(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class StripeAddress(StripeModel):
    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    country: str | None = None


class CustomerDetails(StripeModel):
    email: str | None = None
    name: str | None = None
    phone: str | None = None
    address: StripeAddress | None = None


class StripeLineItemPriceData(StripeModel):
    currency: str
    unit_amount: MinorUnits
    product_data: dict[str, str]


class StripeLineItem(StripeModel):
    price_data: StripeLineItemPriceData
    quantity: int


class StripeSessionConfig(StripeModel):
    """Exactly what Kassa sends to create a Checkout Session: built from the checkout's
    price snapshot, so a retry or a twin request sends identical parameters."""

    mode: Literal["payment"] = "payment"
    line_items: list[StripeLineItem]
    metadata: dict[str, str]
    client_reference_id: str
    expires_at: int
    success_url: str
    cancel_url: str
    customer_email: str | None = None
    payment_intent_data: dict[str, Any] = Field(default_factory=dict)


class CheckoutSession(StripeModel):
    id: str
    object: Literal["checkout.session"] = "checkout.session"
    status: Literal["open", "complete", "expired"] | None = None
    payment_status: Literal["paid", "unpaid", "no_payment_required"]
    amount_total: MinorUnits | None = None
    currency: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    payment_intent: str | None = None
    customer_details: CustomerDetails | None = None
    url: str | None = None
    expires_at: int | None = None
    client_reference_id: str | None = None


class PaymentIntent(StripeModel):
    id: str
    status: str
    amount: MinorUnits
    amount_capturable: MinorUnits = 0
    amount_received: MinorUnits = 0
    currency: str
    metadata: dict[str, str] = Field(default_factory=dict)
    last_payment_error: dict[str, Any] | None = None
    """Set by a failed attempt (a declined card): the session stays open for another try."""


class StripeEventData(StripeModel):
    object: dict[str, Any]


class StripeWebhookPayload(StripeModel):
    """The envelope of a verified webhook event."""

    id: str
    type: str
    created: int
    data: StripeEventData

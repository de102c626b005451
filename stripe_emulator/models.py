"""The emulator's domain objects: what each Stripe object must remember.

They hold state only; `objects.py` renders them in Stripe's JSON shape and the
modules named for each resource (`checkout.py`, `payments.py`, ...) change them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from stripe_emulator.deadlines import DueQueue

Address = dict[str, str | None]


def empty_address() -> Address:
    return dict.fromkeys(("city", "country", "line1", "line2", "postal_code", "state"))


@dataclass
class Payer:
    """Who paid: becomes `customer_details` and the charge's `billing_details`."""

    email: str | None
    name: str | None
    address: Address
    phone: str | None = None


@dataclass
class LineItem:
    id: str
    price_id: str
    product_id: str
    name: str
    currency: str
    unit_amount: int
    quantity: int
    created: int
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def amount(self) -> int:
        return self.unit_amount * self.quantity


@dataclass
class ShippingOption:
    rate_id: str
    display_name: str
    amount: int


@dataclass
class CheckoutSession:
    id: str
    created: int
    expires_at: int
    currency: str
    line_items: list[LineItem]
    success_url: str
    cancel_url: str | None
    url: str | None
    metadata: dict[str, str]
    client_reference_id: str | None
    customer: str | None
    customer_email: str | None
    customer_creation: str
    capture_method: str
    payment_intent_metadata: dict[str, str]
    payment_intent_description: str | None
    locale: str | None
    shipping_options: list[ShippingOption] = field(default_factory=list)
    mode: str = "payment"
    status: str = "open"
    payment_status: str = "unpaid"
    customer_details: Payer | None = None
    # Set by the first payment attempt; shown as `payment_intent` once not open.
    payment_intent: str | None = None

    @property
    def amount_subtotal(self) -> int:
        return sum(item.amount for item in self.line_items)

    @property
    def amount_shipping(self) -> int:
        return self.shipping_options[0].amount if self.shipping_options else 0

    @property
    def amount_total(self) -> int:
        return self.amount_subtotal + self.amount_shipping


@dataclass
class PaymentIntent:
    id: str
    created: int
    amount: int
    currency: str
    capture_method: str
    client_secret: str
    metadata: dict[str, str]
    description: str | None
    customer: str | None
    receipt_email: str | None
    checkout_session: str | None
    status: str = "requires_payment_method"
    amount_capturable: int = 0
    amount_received: int = 0
    payment_method: str | None = None
    latest_charge: str | None = None
    last_payment_error: dict[str, Any] | None = None
    canceled_at: int | None = None
    cancellation_reason: str | None = None


@dataclass
class Charge:
    id: str
    created: int
    amount: int
    currency: str
    payment_intent: str
    payment_method: str
    billing_details: Payer
    customer: str | None
    description: str | None
    metadata: dict[str, str]
    receipt_email: str | None
    status: str
    paid: bool
    captured: bool
    amount_captured: int = 0
    amount_refunded: int = 0
    failure_code: str | None = None
    failure_message: str | None = None

    @property
    def refunded(self) -> bool:
        return self.captured and self.amount_refunded >= self.amount_captured > 0


@dataclass
class Refund:
    id: str
    created: int
    amount: int
    currency: str
    charge: str
    payment_intent: str | None
    reason: str | None
    metadata: dict[str, str]
    status: str = "succeeded"


@dataclass
class Customer:
    id: str
    created: int
    email: str | None
    name: str | None
    phone: str | None
    description: str | None
    address: Address | None
    metadata: dict[str, str]


@dataclass
class WebhookEndpoint:
    id: str
    created: int
    url: str
    enabled_events: list[str]
    secret: str
    api_version: str | None
    description: str | None
    metadata: dict[str, str]
    status: str = "enabled"

    def wants(self, event_type: str) -> bool:
        return self.status == "enabled" and (
            "*" in self.enabled_events or event_type in self.enabled_events
        )


@dataclass
class Event:
    id: str
    created: int
    type: str
    snapshot: dict[str, Any]
    request_id: str | None
    idempotency_key: str | None
    api_version: str
    pending_webhooks: int = 0
    # Only `*.updated` events carry it: the changed fields' old values.
    previous_attributes: dict[str, Any] | None = None


@dataclass
class Account:
    """Everything one `sk_test_...` key owns; accounts never see each other's objects."""

    api_key: str
    checkout_sessions: dict[str, CheckoutSession] = field(default_factory=dict)
    payment_intents: dict[str, PaymentIntent] = field(default_factory=dict)
    charges: dict[str, Charge] = field(default_factory=dict)
    refunds: dict[str, Refund] = field(default_factory=dict)
    customers: dict[str, Customer] = field(default_factory=dict)
    events: dict[str, Event] = field(default_factory=dict)
    webhook_endpoints: dict[str, WebhookEndpoint] = field(default_factory=dict)
    # When something falls due: (object name, id), e.g. ("checkout.session", "cs_test_…").
    deadlines: DueQueue[tuple[str, str]] = field(default_factory=DueQueue)

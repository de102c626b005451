"""What a Checkout Session create request may say, and the rules Stripe applies to it.

Parsing ends in a `NewSession`, or raises `InvalidParams` before anything changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from stripe_emulator import defaults, money
from stripe_emulator.errors import invalid_param, missing_param
from stripe_emulator.params import ParamReader

_MODELLED = (
    "cancel_url",
    "client_reference_id",
    "currency",
    "customer",
    "customer_creation",
    "customer_email",
    "expires_at",
    "line_items",
    "locale",
    "metadata",
    "mode",
    "payment_intent_data",
    "shipping_options",
    "success_url",
    "ui_mode",
    "automatic_tax",
)
# Real parameters that only change what the hosted page offers; accepted and ignored.
_PRESENTATION_ONLY = (
    "adaptive_pricing",
    "after_expiration",
    "allow_promotion_codes",
    "allowed_payment_method_types",
    "billing_address_collection",
    "branding_settings",
    "consent_collection",
    "custom_fields",
    "custom_text",
    "customer_account",
    "customer_update",
    "excluded_payment_method_types",
    "integration_identifier",
    "invoice_creation",
    "name_collection",
    "origin_context",
    "payment_method_collection",
    "payment_method_configuration",
    "payment_method_data",
    "payment_method_options",
    "payment_method_types",
    "permissions",
    "phone_number_collection",
    "redirect_on_completion",
    "return_url",
    "saved_payment_method_options",
    "shipping_address_collection",
    "submit_type",
    "tax_id_collection",
    "wallet_options",
)
# Real parameters that change amounts or objects in ways the emulator does not model.
_UNSUPPORTED = (
    "discounts", "managed_payments", "optional_items", "setup_intent_data", "subscription_data",
)  # fmt: skip


@dataclass(frozen=True)
class NewLineItem:
    name: str
    currency: str
    unit_amount: int
    quantity: int
    metadata: dict[str, str]


@dataclass(frozen=True)
class NewSession:
    line_items: list[NewLineItem]
    currency: str
    success_url: str
    cancel_url: str | None
    metadata: dict[str, str]
    client_reference_id: str | None
    customer: str | None
    customer_email: str | None
    customer_creation: str
    expires_at: int
    capture_method: str
    payment_intent_metadata: dict[str, str]
    payment_intent_description: str | None
    locale: str | None
    shipping_options: list[tuple[str, int]]


def parse_new_session(reader: ParamReader, now: int) -> NewSession:
    reader.only(_MODELLED + _PRESENTATION_ONLY, unsupported=_UNSUPPORTED)
    mode = reader.choice("mode", ("payment", "setup", "subscription"), required=True)
    if mode != "payment":
        raise invalid_param("mode", "The Stripe emulator supports only `mode=payment`.")
    ui_mode = reader.choice("ui_mode", ("elements", "embedded_page", "form", "hosted_page"))
    if ui_mode not in (None, "hosted_page"):
        raise invalid_param("ui_mode", "The Stripe emulator serves only `ui_mode=hosted_page`.")
    tax = reader.child("automatic_tax")
    if tax is not None:
        tax.only(("enabled", "liability"))
        if tax.boolean("enabled"):
            raise invalid_param(
                "automatic_tax[enabled]", "The Stripe emulator does not calculate tax."
            )
    success_url = reader.url("success_url", required=True)
    assert success_url is not None
    cancel_url = reader.url("cancel_url")

    items = [_parse_line_item(item) for item in reader.children("line_items", required=True)]
    if not items:
        raise missing_param("line_items")
    if len(items) > defaults.MAX_LINE_ITEMS:
        raise invalid_param(
            "line_items", f"You may only specify up to {defaults.MAX_LINE_ITEMS} line items."
        )
    currency = reader.currency("currency") or items[0].currency
    if any(item.currency != currency for item in items):
        raise invalid_param(
            "line_items", "All line items must use the same currency as the Checkout Session."
        )
    shipping = _parse_shipping_options(reader, currency)

    customer = reader.string("customer")
    customer_email = reader.string("customer_email", max_length=512)
    if customer and customer_email:
        raise invalid_param(
            "customer_email",
            "You may only specify one of these parameters: customer, customer_email.",
        )
    if customer_email is not None and "@" not in customer_email:
        raise invalid_param(
            "customer_email", f"Invalid email address: {customer_email}", code="email_invalid"
        )

    intent = reader.child("payment_intent_data")
    capture_method, intent_metadata, intent_description = "automatic", {}, None
    if intent is not None:
        intent.only(
            ("capture_method", "description", "metadata", "receipt_email", "setup_future_usage",
             "shipping", "statement_descriptor", "statement_descriptor_suffix", "transfer_group"),
            unsupported=("application_fee_amount", "on_behalf_of", "transfer_data"),
        )  # fmt: skip
        capture_method = (
            intent.choice("capture_method", ("automatic", "automatic_async", "manual"))
            or "automatic"
        )
        intent_metadata = intent.apply_metadata({})
        intent_description = intent.string("description")

    new = NewSession(
        line_items=items,
        currency=currency,
        success_url=success_url,
        cancel_url=cancel_url,
        metadata=reader.apply_metadata({}),
        client_reference_id=reader.string("client_reference_id", max_length=200),
        customer=customer,
        customer_email=customer_email,
        customer_creation=reader.choice("customer_creation", ("always", "if_required"))
        or "if_required",
        expires_at=_parse_expires_at(reader, now),
        capture_method=capture_method,
        payment_intent_metadata=intent_metadata,
        payment_intent_description=intent_description,
        locale=reader.string("locale"),
        shipping_options=shipping,
    )
    _check_minimum(new)
    return new


def _parse_line_item(item: ParamReader) -> NewLineItem:
    item.only(
        ("adjustable_quantity", "metadata", "price_data", "quantity"),
        unsupported=("dynamic_tax_rates", "price", "tax_rates"),
    )
    price = item.child("price_data", required=True)
    assert price is not None
    price.only(
        ("currency", "product_data", "tax_behavior", "unit_amount", "unit_amount_decimal"),
        unsupported=("product", "recurring"),
    )
    currency = price.currency("currency", required=True)
    assert currency is not None
    product = price.child("product_data", required=True)
    assert product is not None
    product.only(("description", "images", "metadata", "name", "tax_code", "unit_label"))
    name = product.string("name", required=True, max_length=250)
    assert name is not None
    if item.data.get("quantity") is None:
        raise invalid_param(
            item.name("quantity"),
            f"Quantity is required. Add `quantity` to `{item.path}`",
            code="parameter_missing",
        )
    quantity = item.integer("quantity", minimum=1)
    assert quantity is not None
    return NewLineItem(
        name=name,
        currency=currency,
        unit_amount=_unit_amount(price),
        quantity=quantity,
        metadata=item.apply_metadata({}),
    )


def _unit_amount(price: ParamReader) -> int:
    if price.has("unit_amount") and price.has("unit_amount_decimal"):
        raise invalid_param(
            price.name("unit_amount"),
            "You may only specify one of these parameters: unit_amount, unit_amount_decimal.",
        )
    if price.has("unit_amount_decimal"):
        raw = price.string("unit_amount_decimal") or ""
        try:
            value = Decimal(raw)
        except InvalidOperation:
            raise invalid_param(
                price.name("unit_amount_decimal"), f"Invalid decimal: {raw}"
            ) from None
        if value != value.to_integral_value() or value < 0:
            raise invalid_param(
                price.name("unit_amount_decimal"),
                "The Stripe emulator supports whole, non-negative minor units only.",
            )
        return int(value)
    amount = price.integer("unit_amount", minimum=0)
    if amount is None:
        raise missing_param(price.name("unit_amount"))
    return amount


def _parse_shipping_options(reader: ParamReader, currency: str) -> list[tuple[str, int]]:
    options = reader.children("shipping_options")
    if len(options) > defaults.MAX_SHIPPING_OPTIONS:
        raise invalid_param(
            "shipping_options",
            f"You may only specify up to {defaults.MAX_SHIPPING_OPTIONS} shipping options.",
        )
    parsed = []
    for option in options:
        option.only(("shipping_rate_data",), unsupported=("shipping_rate",))
        data = option.child("shipping_rate_data", required=True)
        assert data is not None
        data.only(
            ("delivery_estimate", "display_name", "fixed_amount", "metadata", "tax_behavior",
             "tax_code", "type"),
        )  # fmt: skip
        data.choice("type", ("fixed_amount",))
        name = data.string("display_name", required=True, max_length=100)
        fixed = data.child("fixed_amount", required=True)
        assert name is not None and fixed is not None
        fixed.only(("amount", "currency"), unsupported=("currency_options",))
        amount = fixed.integer("amount", required=True, minimum=0)
        rate_currency = fixed.currency("currency", required=True)
        assert amount is not None
        if rate_currency != currency:
            raise invalid_param(
                fixed.name("currency"),
                "The shipping rate's currency must match the Checkout Session's currency.",
            )
        parsed.append((name, amount))
    return parsed


def _parse_expires_at(reader: ParamReader, now: int) -> int:
    expires_at = reader.integer("expires_at")
    if expires_at is None:
        return now + defaults.SESSION_DEFAULT_LIFETIME_SECONDS
    if expires_at < now + defaults.SESSION_MIN_LIFETIME_SECONDS:
        raise invalid_param(
            "expires_at",
            "The `expires_at` timestamp must be at least 30 minutes from Checkout Session "
            "creation.",
        )
    if expires_at > now + defaults.SESSION_MAX_LIFETIME_SECONDS:
        raise invalid_param(
            "expires_at",
            "The `expires_at` timestamp must be less than 24 hours from Checkout Session creation.",
        )
    return expires_at


def _check_minimum(new: NewSession) -> None:
    minimum = money.minimum_charge(new.currency)
    total = sum(item.unit_amount * item.quantity for item in new.line_items) + (
        new.shipping_options[0][1] if new.shipping_options else 0
    )
    if minimum is not None and total < minimum:
        raise invalid_param(
            None,
            "The Checkout Session's total amount due must add up to at least "
            f"{money.format_amount(minimum, new.currency)}.",
            code="amount_too_small",
        )

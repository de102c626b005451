"""Rendering of domain objects in Stripe's JSON shape (fields as in API 2026-10-28).

Fields the emulator does not model are present with Stripe's neutral values, so code
reading them sees what it would see on a plain card payment in test mode.
"""

from __future__ import annotations

from typing import Any

from stripe_emulator.models import (
    Charge,
    CheckoutSession,
    Customer,
    Event,
    LineItem,
    Payer,
    PaymentIntent,
    Refund,
    WebhookEndpoint,
)

JSON = dict[str, Any]


def list_json(data: list[JSON], *, has_more: bool, url: str) -> JSON:
    return {"object": "list", "data": data, "has_more": has_more, "url": url}


def payer_json(payer: Payer) -> JSON:
    return {
        "address": dict(payer.address),
        "business_name": None,
        "email": payer.email,
        "individual_name": None,
        "name": payer.name,
        "phone": payer.phone,
        "tax_exempt": "none",
        "tax_ids": [],
    }


def session_json(session: CheckoutSession) -> JSON:
    shipping = session.shipping_options[0] if session.shipping_options else None
    is_open = session.status == "open"
    return {
        "id": session.id,
        "object": "checkout.session",
        "adaptive_pricing": {"enabled": False},
        "after_expiration": None,
        "allow_promotion_codes": None,
        "amount_subtotal": session.amount_subtotal,
        "amount_total": session.amount_total,
        "automatic_tax": {"enabled": False, "liability": None, "provider": None, "status": None},
        "billing_address_collection": None,
        "cancel_url": session.cancel_url,
        "client_reference_id": session.client_reference_id,
        "client_secret": None,
        "collected_information": None if is_open else {"shipping_details": None},
        "consent": None,
        "consent_collection": None,
        "created": session.created,
        "currency": session.currency,
        "currency_conversion": None,
        "custom_fields": [],
        "custom_text": {
            "after_submit": None,
            "shipping_address": None,
            "submit": None,
            "terms_of_service_acceptance": None,
        },
        "customer": session.customer,
        "customer_creation": session.customer_creation,
        "customer_details": (
            payer_json(session.customer_details) if session.customer_details else None
        ),
        "customer_email": session.customer_email,
        "discounts": [],
        "expires_at": session.expires_at,
        "invoice": None,
        "invoice_creation": {
            "enabled": False,
            "invoice_data": {
                "account_tax_ids": None,
                "custom_fields": None,
                "description": None,
                "footer": None,
                "issuer": None,
                "metadata": {},
                "rendering_options": None,
            },
        },
        "livemode": False,
        "locale": session.locale,
        "metadata": dict(session.metadata),
        "mode": session.mode,
        "payment_intent": None if is_open else session.payment_intent,
        "payment_link": None,
        "payment_method_collection": "if_required",
        "payment_method_configuration_details": None,
        "payment_method_options": {"card": {"request_three_d_secure": "automatic"}},
        "payment_method_types": ["card"],
        "payment_status": session.payment_status,
        "phone_number_collection": {"enabled": False},
        "recovered_from": None,
        "saved_payment_method_options": None,
        "setup_intent": None,
        "shipping_address_collection": None,
        "shipping_cost": (
            {
                "amount_subtotal": shipping.amount,
                "amount_tax": 0,
                "amount_total": shipping.amount,
                "shipping_rate": shipping.rate_id,
            }
            if shipping
            else None
        ),
        "shipping_options": [
            {"shipping_amount": option.amount, "shipping_rate": option.rate_id}
            for option in session.shipping_options
        ],
        "status": session.status,
        "submit_type": None,
        "subscription": None,
        "success_url": session.success_url,
        "total_details": {
            "amount_discount": 0,
            "amount_shipping": session.amount_shipping,
            "amount_tax": 0,
        },
        "ui_mode": "hosted_page",
        "url": session.url,
        "wallet_options": None,
    }


def line_item_json(item: LineItem) -> JSON:
    return {
        "id": item.id,
        "object": "item",
        "amount_discount": 0,
        "amount_subtotal": item.amount,
        "amount_tax": 0,
        "amount_total": item.amount,
        "currency": item.currency,
        "description": item.name,
        "metadata": dict(item.metadata),
        "price": {
            "id": item.price_id,
            "object": "price",
            "active": False,
            "billing_scheme": "per_unit",
            "created": item.created,
            "currency": item.currency,
            "custom_unit_amount": None,
            "livemode": False,
            "lookup_key": None,
            "metadata": {},
            "nickname": None,
            "product": item.product_id,
            "recurring": None,
            "tax_behavior": "unspecified",
            "tiers_mode": None,
            "transform_quantity": None,
            "type": "one_time",
            "unit_amount": item.unit_amount,
            "unit_amount_decimal": str(item.unit_amount),
        },
        "quantity": item.quantity,
    }


def payment_intent_json(intent: PaymentIntent) -> JSON:
    return {
        "id": intent.id,
        "object": "payment_intent",
        "amount": intent.amount,
        "amount_capturable": intent.amount_capturable,
        "amount_details": {"tip": {}},
        "amount_received": intent.amount_received,
        "application": None,
        "application_fee_amount": None,
        "automatic_payment_methods": None,
        "canceled_at": intent.canceled_at,
        "cancellation_reason": intent.cancellation_reason,
        "capture_method": intent.capture_method,
        "client_secret": intent.client_secret,
        "confirmation_method": "automatic",
        "created": intent.created,
        "currency": intent.currency,
        "customer": intent.customer,
        "description": intent.description,
        "last_payment_error": intent.last_payment_error,
        "latest_charge": intent.latest_charge,
        "livemode": False,
        "metadata": dict(intent.metadata),
        "next_action": None,
        "on_behalf_of": None,
        "payment_method": intent.payment_method,
        "payment_method_configuration_details": None,
        "payment_method_options": {
            "card": {
                "installments": None,
                "mandate_options": None,
                "network": None,
                "request_three_d_secure": "automatic",
            }
        },
        "payment_method_types": ["card"],
        "processing": None,
        "receipt_email": intent.receipt_email,
        "review": None,
        "setup_future_usage": None,
        "shipping": None,
        "source": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": intent.status,
        "transfer_data": None,
        "transfer_group": None,
    }


def charge_json(charge: Charge) -> JSON:
    declined = charge.status == "failed"
    return {
        "id": charge.id,
        "object": "charge",
        "amount": charge.amount,
        "amount_captured": charge.amount_captured,
        "amount_refunded": charge.amount_refunded,
        "application": None,
        "application_fee": None,
        "application_fee_amount": None,
        "balance_transaction": None,
        "billing_details": {
            "address": dict(charge.billing_details.address),
            "email": charge.billing_details.email,
            "name": charge.billing_details.name,
            "phone": charge.billing_details.phone,
            "tax_id": None,
        },
        "calculated_statement_descriptor": "KASSA EMULATOR",
        "captured": charge.captured,
        "created": charge.created,
        "currency": charge.currency,
        "customer": charge.customer,
        "description": charge.description,
        "disputed": False,
        "failure_balance_transaction": None,
        "failure_code": charge.failure_code,
        "failure_message": charge.failure_message,
        "fraud_details": {},
        "livemode": False,
        "metadata": dict(charge.metadata),
        "on_behalf_of": None,
        "outcome": {
            "network_status": "declined_by_network" if declined else "approved_by_network",
            "reason": "generic_decline" if declined else None,
            "risk_level": "normal",
            "risk_score": 32,
            "seller_message": (
                "The bank did not return any further details with this decline."
                if declined
                else "Payment complete."
            ),
            "type": "issuer_declined" if declined else "authorized",
        },
        "paid": charge.paid,
        "payment_intent": charge.payment_intent,
        "payment_method": charge.payment_method,
        "payment_method_details": {
            "card": {
                "amount_authorized": None,
                "brand": "visa",
                "checks": None,
                "country": "US",
                "exp_month": 12,
                "exp_year": 2034,
                "fingerprint": None,
                "funding": "credit",
                "installments": None,
                "last4": "0002" if declined else "4242",
                "mandate": None,
                "network": "visa",
                "network_token": None,
                "three_d_secure": None,
                "wallet": None,
            },
            "type": "card",
        },
        "receipt_email": charge.receipt_email,
        "receipt_number": None,
        "receipt_url": None,
        "refunded": charge.refunded,
        "review": None,
        "shipping": None,
        "source": None,
        "source_transfer": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": charge.status,
        "transfer_data": None,
        "transfer_group": None,
    }


def refund_json(refund: Refund) -> JSON:
    return {
        "id": refund.id,
        "object": "refund",
        "amount": refund.amount,
        "balance_transaction": None,
        "charge": refund.charge,
        "created": refund.created,
        "currency": refund.currency,
        "destination_details": {
            "card": {
                "reference": None,
                "reference_status": "pending",
                "reference_type": None,
                "type": "refund",
            },
            "type": "card",
        },
        "metadata": dict(refund.metadata),
        "payment_intent": refund.payment_intent,
        "reason": refund.reason,
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": refund.status,
        "transfer_reversal": None,
    }


def customer_json(customer: Customer) -> JSON:
    return {
        "id": customer.id,
        "object": "customer",
        "address": dict(customer.address) if customer.address else None,
        "balance": 0,
        "created": customer.created,
        "currency": None,
        "default_source": None,
        "delinquent": False,
        "description": customer.description,
        "discount": None,
        "email": customer.email,
        "invoice_prefix": customer.id[4:12].upper(),
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": None,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": False,
        "metadata": dict(customer.metadata),
        "name": customer.name,
        "next_invoice_sequence": 1,
        "phone": customer.phone,
        "preferred_locales": [],
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": None,
    }


def webhook_endpoint_json(endpoint: WebhookEndpoint, *, with_secret: bool = False) -> JSON:
    """Stripe shows the signing secret only in the response that creates the endpoint."""
    body: JSON = {
        "id": endpoint.id,
        "object": "webhook_endpoint",
        "api_version": endpoint.api_version,
        "application": None,
        "created": endpoint.created,
        "description": endpoint.description,
        "enabled_events": list(endpoint.enabled_events),
        "livemode": False,
        "metadata": dict(endpoint.metadata),
        "status": endpoint.status,
        "url": endpoint.url,
    }
    if with_secret:
        body["secret"] = endpoint.secret
    return body


def event_json(event: Event) -> JSON:
    data: JSON = {"object": event.snapshot}
    if event.previous_attributes is not None:
        data["previous_attributes"] = event.previous_attributes
    return {
        "id": event.id,
        "object": "event",
        "api_version": event.api_version,
        "created": event.created,
        "data": data,
        "livemode": False,
        "pending_webhooks": event.pending_webhooks,
        "request": {"id": event.request_id, "idempotency_key": event.idempotency_key},
        "type": event.type,
    }


def deleted_json(object_name: str, object_id: str) -> JSON:
    return {"id": object_id, "object": object_name, "deleted": True}

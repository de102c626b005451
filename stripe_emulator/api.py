"""The Stripe API subset under /v1: thin handlers from parameters to domain calls.

Each handler validates its parameters first (raising `InvalidParams`, which the
idempotency layer does not store), then changes state, then returns the JSON body.
"""

from __future__ import annotations

from flask import Blueprint

from stripe_emulator import (
    checkout,
    checkout_params,
    customers,
    objects,
    payments,
    webhook_endpoints,
)
from stripe_emulator.errors import InvalidParams, resource_missing
from stripe_emulator.events import type_matcher
from stripe_emulator.lists import PAGE_PARAMS, paginate, read_created_filter, read_page
from stripe_emulator.objects import JSON
from stripe_emulator.pipeline import ApiCall, Handler, api_view
from stripe_emulator.state import EmulatorState

_PI_UPDATE_UNSUPPORTED = (
    "allowed_payment_method_types", "amount", "amount_details", "application_fee_amount",
    "capture_method", "currency", "customer", "customer_account", "excluded_payment_method_types",
    "hooks", "payment_details", "payment_method", "payment_method_configuration",
    "payment_method_data", "payment_method_options", "setup_future_usage", "transfer_data",
    "transfer_group",
)  # fmt: skip


def build_api(state: EmulatorState) -> Blueprint:
    api = Blueprint("stripe_api", __name__, url_prefix="/v1")

    def route(
        rule: str, method: str, handler: Handler, returns: str, item: str | None = None
    ) -> None:
        api.add_url_rule(
            rule,
            endpoint=f"{method.lower()}_{handler.__name__}",
            view_func=api_view(state, handler, returns=returns, item=item),
            methods=[method],
        )

    session = "checkout.session"
    route("/checkout/sessions", "POST", create_checkout_session, session)
    route("/checkout/sessions", "GET", list_checkout_sessions, "list", session)
    route("/checkout/sessions/<session_id>", "GET", retrieve_checkout_session, session)
    route("/checkout/sessions/<session_id>/line_items", "GET", list_line_items, "list", "item")
    route("/checkout/sessions/<session_id>/expire", "POST", expire_checkout_session, session)
    route("/payment_intents/<intent_id>", "GET", retrieve_payment_intent, "payment_intent")
    route("/payment_intents/<intent_id>", "POST", update_payment_intent, "payment_intent")
    route("/payment_intents/<intent_id>/capture", "POST", capture_payment_intent, "payment_intent")
    route("/payment_intents/<intent_id>/cancel", "POST", cancel_payment_intent, "payment_intent")
    route("/charges/<charge_id>", "GET", retrieve_charge, "charge")
    route("/refunds", "POST", create_refund, "refund")
    route("/refunds", "GET", list_refunds, "list", "refund")
    route("/refunds/<refund_id>", "GET", retrieve_refund, "refund")
    route("/customers", "POST", create_customer, "customer")
    route("/customers", "GET", list_customers, "list", "customer")
    route("/customers/<customer_id>", "GET", retrieve_customer, "customer")
    route("/customers/<customer_id>", "POST", update_customer, "customer")
    route("/events", "GET", list_events, "list", "event")
    route("/events/<event_id>", "GET", retrieve_event, "event")
    route("/webhook_endpoints", "POST", create_webhook_endpoint, "webhook_endpoint")
    route("/webhook_endpoints", "GET", list_webhook_endpoints, "list", "webhook_endpoint")
    route("/webhook_endpoints/<endpoint_id>", "GET", retrieve_webhook_endpoint, "webhook_endpoint")
    route("/webhook_endpoints/<endpoint_id>", "POST", update_webhook_endpoint, "webhook_endpoint")
    route("/webhook_endpoints/<endpoint_id>", "DELETE", delete_webhook_endpoint, "webhook_endpoint")
    return api


# Checkout Sessions


def create_checkout_session(call: ApiCall) -> JSON:
    new = checkout_params.parse_new_session(call.params, call.now)
    session = checkout.create_session(call.account, new, now=call.now, base_url=call.base_url)
    return objects.session_json(session)


def list_checkout_sessions(call: ApiCall) -> JSON:
    params = call.params
    params.only(
        (*PAGE_PARAMS, "created", "customer", "customer_account", "customer_details",
         "payment_intent", "payment_link", "status", "subscription")
    )  # fmt: skip
    page = read_page(params)
    status = params.choice("status", ("complete", "expired", "open"))
    intent = params.string("payment_intent")
    customer = params.string("customer")
    created = read_created_filter(params)
    details = params.child("customer_details")
    email = details.string("email") if details else None
    sessions = [
        s
        for s in reversed(call.account.checkout_sessions.values())
        if (status is None or s.status == status)
        and (intent is None or (s.status != "open" and s.payment_intent == intent))
        and (customer is None or s.customer == customer)
        and (
            email is None or (s.customer_details is not None and s.customer_details.email == email)
        )
        and created(s.created)
    ]
    chunk, more = paginate(sessions, page, ident=lambda s: s.id, object_name="checkout.session")
    return objects.list_json(
        [objects.session_json(s) for s in chunk], has_more=more, url="/v1/checkout/sessions"
    )


def retrieve_checkout_session(call: ApiCall, session_id: str) -> JSON:
    call.params.only(())
    return objects.session_json(checkout.find_session(call.account, session_id))


def list_line_items(call: ApiCall, session_id: str) -> JSON:
    call.params.only(PAGE_PARAMS)
    page = read_page(call.params)
    session = checkout.find_session(call.account, session_id)
    chunk, more = paginate(session.line_items, page, ident=lambda i: i.id, object_name="item")
    return objects.list_json(
        [objects.line_item_json(item) for item in chunk],
        has_more=more,
        url=f"/v1/checkout/sessions/{session_id}/line_items",
    )


def expire_checkout_session(call: ApiCall, session_id: str) -> JSON:
    call.params.only(())
    session = checkout.find_session(call.account, session_id)
    checkout.expire(call.account, session, call.events)
    return objects.session_json(session)


# PaymentIntents and Charges


def retrieve_payment_intent(call: ApiCall, intent_id: str) -> JSON:
    call.params.only(("client_secret",))
    return objects.payment_intent_json(payments.find_intent(call.account, intent_id))


def update_payment_intent(call: ApiCall, intent_id: str) -> JSON:
    params = call.params
    params.only(
        ("description", "metadata", "receipt_email", "shipping", "statement_descriptor",
         "statement_descriptor_suffix"),
        unsupported=_PI_UPDATE_UNSUPPORTED,
    )  # fmt: skip
    intent = payments.find_intent(call.account, intent_id)
    params.apply_metadata(intent.metadata)
    changes = {
        key: params.string(key, allow_empty=True) or None
        for key in ("description", "receipt_email")
        if params.has(key)
    }
    payments.update(intent, changes, params.metadata())
    return objects.payment_intent_json(intent)


def capture_payment_intent(call: ApiCall, intent_id: str) -> JSON:
    params = call.params
    params.only(
        ("amount_to_capture", "final_capture", "metadata", "statement_descriptor",
         "statement_descriptor_suffix"),
        unsupported=("amount_details", "application_fee_amount", "hooks", "payment_details",
                     "transfer_data"),
    )  # fmt: skip
    amount = params.integer("amount_to_capture", minimum=1)
    params.boolean("final_capture")
    intent = payments.find_intent(call.account, intent_id)
    metadata = params.apply_metadata(intent.metadata) if params.has("metadata") else None
    payments.capture(call.account, intent, amount, metadata, call.events)
    checkout.after_capture(call.account, intent.checkout_session)
    return objects.payment_intent_json(intent)


def cancel_payment_intent(call: ApiCall, intent_id: str) -> JSON:
    call.params.only(("cancellation_reason",))
    reason = call.params.choice("cancellation_reason", payments.CANCELLATION_REASONS)
    intent = payments.find_intent(call.account, intent_id)
    payments.cancel(call.account, intent, reason, call.events)
    return objects.payment_intent_json(intent)


def retrieve_charge(call: ApiCall, charge_id: str) -> JSON:
    call.params.only(())
    return objects.charge_json(payments.find_charge(call.account, charge_id))


# Refunds


def create_refund(call: ApiCall) -> JSON:
    params = call.params
    params.only(
        ("amount", "charge", "metadata", "payment_intent", "reason"),
        unsupported=("currency", "customer", "instructions_email", "origin",
                     "refund_application_fee", "reverse_transfer"),
    )  # fmt: skip
    intent_id = params.string("payment_intent")
    charge_id = params.string("charge")
    if intent_id is None and charge_id is None:
        raise InvalidParams(
            "One of the following params should be provided for this request: "
            "payment_intent or charge.",
            param=None,
            code="parameter_missing",
        )
    refund = payments.refund(
        call.account,
        intent_id=intent_id,
        charge_id=charge_id,
        amount=params.integer("amount", minimum=1),
        reason=params.choice("reason", payments.REFUND_REASONS),
        metadata=params.apply_metadata({}),
        recorder=call.events,
    )
    return objects.refund_json(refund)


def retrieve_refund(call: ApiCall, refund_id: str) -> JSON:
    call.params.only(())
    return objects.refund_json(payments.find_refund(call.account, refund_id))


def list_refunds(call: ApiCall) -> JSON:
    params = call.params
    params.only((*PAGE_PARAMS, "charge", "created", "payment_intent"))
    page = read_page(params)
    charge = params.string("charge")
    intent = params.string("payment_intent")
    created = read_created_filter(params)
    refunds = [
        r
        for r in reversed(call.account.refunds.values())
        if (charge is None or r.charge == charge)
        and (intent is None or r.payment_intent == intent)
        and created(r.created)
    ]
    chunk, more = paginate(refunds, page, ident=lambda r: r.id, object_name="refund")
    return objects.list_json(
        [objects.refund_json(r) for r in chunk], has_more=more, url="/v1/refunds"
    )


# Customers


def create_customer(call: ApiCall) -> JSON:
    return objects.customer_json(customers.create(call.account, call.params, call.events))


def retrieve_customer(call: ApiCall, customer_id: str) -> JSON:
    call.params.only(())
    return objects.customer_json(customers.find_customer(call.account, customer_id))


def update_customer(call: ApiCall, customer_id: str) -> JSON:
    customer = customers.find_customer(call.account, customer_id)
    customers.update(customer, call.params, call.events)
    return objects.customer_json(customer)


def list_customers(call: ApiCall) -> JSON:
    params = call.params
    params.only((*PAGE_PARAMS, "created", "email", "test_clock"))
    page = read_page(params)
    email = params.string("email", max_length=512)
    created = read_created_filter(params)
    found = [
        c
        for c in reversed(call.account.customers.values())
        if (email is None or c.email == email) and created(c.created)
    ]
    chunk, more = paginate(found, page, ident=lambda c: c.id, object_name="customer")
    return objects.list_json(
        [objects.customer_json(c) for c in chunk], has_more=more, url="/v1/customers"
    )


# Events


def list_events(call: ApiCall) -> JSON:
    params = call.params
    params.only((*PAGE_PARAMS, "created", "delivery_success", "type", "types"))
    page = read_page(params)
    params.boolean("delivery_success")
    single = params.string("type")
    several = params.strings("types")
    if single is not None and several:
        raise InvalidParams(
            "You may only specify one of these parameters: type, types.", param="types"
        )
    patterns = [type_matcher(t) for t in ([single] if single else several or [])]
    created = read_created_filter(params)
    found = [
        e
        for e in reversed(call.account.events.values())
        if (not patterns or any(p.fullmatch(e.type) for p in patterns)) and created(e.created)
    ]
    chunk, more = paginate(found, page, ident=lambda e: e.id, object_name="event")
    return objects.list_json(
        [objects.event_json(e) for e in chunk], has_more=more, url="/v1/events"
    )


def retrieve_event(call: ApiCall, event_id: str) -> JSON:
    call.params.only(())
    event = call.account.events.get(event_id)
    if event is None:
        raise resource_missing("event", event_id)
    return objects.event_json(event)


# Webhook endpoints


def create_webhook_endpoint(call: ApiCall) -> JSON:
    endpoint = webhook_endpoints.create(call.account, call.params, call.now)
    return objects.webhook_endpoint_json(endpoint, with_secret=True)


def list_webhook_endpoints(call: ApiCall) -> JSON:
    call.params.only(PAGE_PARAMS)
    page = read_page(call.params)
    found = list(reversed(call.account.webhook_endpoints.values()))
    chunk, more = paginate(found, page, ident=lambda e: e.id, object_name="webhook_endpoint")
    return objects.list_json(
        [objects.webhook_endpoint_json(e) for e in chunk],
        has_more=more,
        url="/v1/webhook_endpoints",
    )


def retrieve_webhook_endpoint(call: ApiCall, endpoint_id: str) -> JSON:
    call.params.only(())
    endpoint = webhook_endpoints.find_endpoint(call.account, endpoint_id)
    return objects.webhook_endpoint_json(endpoint)


def update_webhook_endpoint(call: ApiCall, endpoint_id: str) -> JSON:
    endpoint = webhook_endpoints.find_endpoint(call.account, endpoint_id)
    webhook_endpoints.update(endpoint, call.params)
    return objects.webhook_endpoint_json(endpoint)


def delete_webhook_endpoint(call: ApiCall, endpoint_id: str) -> JSON:
    call.params.only(())
    endpoint = webhook_endpoints.find_endpoint(call.account, endpoint_id)
    del call.account.webhook_endpoints[endpoint.id]
    return objects.deleted_json("webhook_endpoint", endpoint.id)

"""``POST /webhooks/stripe/<shop_id>``: Stripe's way in. 2xx only when the event is safe."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from checkout.shops import known_shop
from checkout.webhooks import handle_webhook
from schemas.api import WebhookReceived
from schemas.stripe import StripeWebhookPayload
from web.context import container
from web.metrics import WEBHOOKS
from web.openapi import documented

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")


@bp.post("/stripe/<shop_id>")
@documented(
    "A Stripe event for this shop, signed with its webhook secret",
    body=StripeWebhookPayload,
    raw_body=True,
    response=WebhookReceived,
    headers={"Stripe-Signature": "required"},
    errors={
        400: "webhook_rejected (bad signature or payload, another shop's event);"
        " webhook_timestamp_out_of_tolerance (signed more than 300 s from now, either way)",
        404: "shop_not_found",
    },
)
def stripe_webhook(shop_id: str) -> Response:
    c = container()
    shop = known_shop(c, shop_id)
    try:
        outcome = handle_webhook(
            c, shop, request.get_data(), request.headers.get("Stripe-Signature")
        )
    except Exception as exc:
        WEBHOOKS.labels("unknown", type(exc).__name__).inc()
        raise
    WEBHOOKS.labels(outcome.event_type, outcome.result).inc()
    return jsonify(WebhookReceived(received=True, result=outcome.result).model_dump())

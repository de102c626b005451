"""``POST /webhooks/stripe/<shop_id>``: Stripe's way in. 2xx only when the event is safe."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from checkout.shops import known_shop
from checkout.webhooks import handle_webhook
from web.context import container
from web.limits import limiter
from web.metrics import WEBHOOKS

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")
limiter.exempt(bp)  # Stripe's deliveries are authenticated, not rate limited


@bp.post("/stripe/<shop_id>")
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
    return jsonify({"received": True, "result": outcome.result})

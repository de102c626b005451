"""The floor under Kassa's request path: the same server, Flask and load generator with none
of Kassa's work, so that ``bench/run.py`` can show what a ratio target leaves for Kassa's
own code on this machine.

    python -m bench.floor --port 8001 --stripe-key sk_test_...   # STRIPE_API_BASE from the environment

It answers the two benched paths, the same requests as Kassa's:

* ``POST /webhooks/stripe/<shop>`` reads the body and answers 200: no signature check, no
  parsing, no SQL. What any Flask webhook costs here before it does anything at all.
* ``POST /api/checkout`` reads the JSON body and creates one Checkout Session through
  Kassa's own Stripe adapter (the official SDK on the shared HTTP client, the response read
  into the pydantic model): the one Stripe call a checkout cannot do without, and nothing
  else (no prices, hold, idempotency, rate limit or SQL).

It is served with ``kassa web``'s server settings (``web.server.KassaServer``: gunicorn's
threaded workers, the same processes and threads), so what separates it from Kassa is
Kassa's code alone.
"""

from __future__ import annotations

import argparse
import os
import time
import uuid

from flask import Flask, Response, jsonify, request

from kassa.stripe_gateway import StripeGateway
from schemas.records import Shop
from schemas.stripe import StripeLineItem, StripeLineItemPriceData, StripeSessionConfig
from web.server import KassaServer


def create_floor_app(stripe_api_base: str, stripe_key: str) -> Flask:
    app = Flask(__name__)
    gateway = StripeGateway(stripe_api_base)
    shop = Shop.model_construct(id="demo", stripe_api_key=stripe_key)

    @app.post("/webhooks/stripe/<shop_id>")
    def webhook(shop_id: str) -> tuple[Response, int]:
        request.get_data()
        return jsonify(result="floor"), 200

    @app.post("/api/checkout")
    def checkout() -> tuple[Response, int]:
        request.get_json()
        checkout_id = str(uuid.uuid4())
        metadata = {"shop_id": shop.id, "checkout_id": checkout_id}
        config = StripeSessionConfig(
            line_items=[
                StripeLineItem(
                    price_data=StripeLineItemPriceData(
                        currency="usd", unit_amount=1200, product_data={"name": "Enamel mug"}
                    ),
                    quantity=1,
                )
            ],
            metadata=metadata,
            client_reference_id=checkout_id,
            expires_at=int(time.time()) + 3600,
            success_url=f"http://127.0.0.1:8000/checkout/success?checkout_id={checkout_id}",
            cancel_url=f"http://127.0.0.1:8000/cart?cancelled={checkout_id}",
            payment_intent_data={"metadata": metadata},
        )
        session = gateway.create_session(shop, config, f"floor-{checkout_id}")
        return jsonify(checkout_id=checkout_id, url=session.url), 201

    return app


class FloorServer(KassaServer):
    def __init__(self, app: Flask, bind: str, workers: int, threads: int) -> None:
        self.app = app
        super().__init__(bind, workers, threads)

    def load(self) -> Flask:
        return self.app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--stripe-key", required=True, help="the bench shop's Stripe key")
    parser.add_argument("--workers", type=int, default=2, help="as kassa web's default")
    parser.add_argument("--threads", type=int, default=8, help="as kassa web's default")
    args = parser.parse_args()
    app = create_floor_app(os.environ["STRIPE_API_BASE"], args.stripe_key)
    FloorServer(app, f"127.0.0.1:{args.port}", args.workers, args.threads).run()


if __name__ == "__main__":
    main()

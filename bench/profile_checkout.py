"""Where the time of one ``POST /api/checkout`` (or webhook) goes: cProfile over N requests.

    .venv/bin/python bench/profile_checkout.py [--requests 200] [--top 25] [--webhooks] [--cpu] [--plain]

The app runs in this process (Flask test client, so no HTTP server in the profile)
against a throwaway stack's Postgres, Redis and Stripe emulator (a separate process).
Wall-clock time by default (waiting on Postgres, Redis and the emulator shows up as time
in the socket calls), CPU time with --cpu. Prints a breakdown of the request into the
parts that matter and the functions with the most cumulative and most own time.
cProfile's own overhead inflates code with many small calls (the Stripe SDK, psycopg), so
read the shares, not the milliseconds; docs/benchmarks.md has a sampled (py-spy) profile.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import sys
import time
import uuid
from typing import Any

import stripe
from stack import SHOP, open_stack

from kassa.bootstrap import bootstrap
from kassa.logs import configure_logging
from schemas.settings import Settings
from web.app import create_app

GROUPS = {
    "Stripe call (SDK + emulator round trip)": ("stripe/_http_client.py", "request_with_retries"),
    "Postgres round trips": ("psycopg/cursor.py", "execute"),
    "pool checkout (connection check)": ("psycopg_pool/pool.py", "getconn"),
    "rate limiter (Redis)": ("web/limits.py", "hit"),
    "pydantic validation/serialisation": ("pydantic/main.py", "model_validate"),
}


def _cumulative(stats: pstats.Stats, path_part: str, func: str) -> float:
    total = 0.0
    for (filename, _line, name), (_cc, _nc, _tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        if path_part in filename and name == func:
            total += ct
    return total


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--webhooks", action="store_true", help="profile the webhook instead")
    parser.add_argument(
        "--cpu",
        action="store_true",
        help="count CPU time (time.process_time) instead of wall-clock time",
    )
    parser.add_argument(
        "--plain",
        action="store_true",
        help="no profiler: just the wall-clock and CPU time per request, without cProfile's overhead",
    )
    args = parser.parse_args()
    with open_stack() as stack:
        settings = Settings(
            DATABASE_URL=stack.database_url,
            REDIS_URL=stack.redis_url,
            STRIPE_API_BASE=stack.stripe_url,
            KASSA_CHECKOUT_RATE_LIMIT="1000000/minute",
            KASSA_LOG_LEVEL="WARNING",
        )
        configure_logging("WARNING", process="web")
        container = bootstrap(settings)
        try:
            client = create_app(container).test_client()
            run = uuid.uuid4().hex[:8]
            secret = "whsec_bench_profile"
            with container.uow() as uow:
                uow.shops.set_webhook_secret(SHOP, secret)

            def checkout(i: int) -> dict[str, Any]:
                resp = client.post(
                    "/api/checkout",
                    json={"lines": [{"sku": "MUG-WHITE", "quantity": 1}]},
                    headers={"X-Shop-Id": SHOP, "Idempotency-Key": f"prof-{run}-{i}"},
                )
                assert resp.status_code == 201, resp.get_data(as_text=True)
                body: dict[str, Any] = resp.get_json()
                return body

            def webhook(co: dict[str, Any], i: int) -> None:
                event = {
                    "id": f"evt_prof_{run}_{i}",
                    "object": "event",
                    "type": "checkout.session.completed",
                    "created": int(time.time()),
                    "data": {
                        "object": {
                            "id": co["session_id"],
                            "object": "checkout.session",
                            "status": "complete",
                            "payment_status": "paid",
                            "amount_total": co["amount_total"],
                            "currency": co["currency"],
                            "payment_intent": f"pi_prof_{run}_{i}",
                            "client_reference_id": co["checkout_id"],
                            "metadata": {"shop_id": SHOP, "checkout_id": co["checkout_id"]},
                            "customer_details": {"email": "b@example.test", "name": "B"},
                        }
                    },
                }
                payload = json.dumps(event)
                header = stripe.WebhookSignature.generate_signature_header(payload, secret)
                resp = client.post(
                    f"/webhooks/stripe/{SHOP}",
                    data=payload,
                    headers={"Stripe-Signature": header, "Content-Type": "application/json"},
                )
                assert resp.status_code == 200, resp.get_data(as_text=True)

            for i in range(20):  # warm-up: imports, pools, the SDK client, prepared plans
                co = checkout(-1 - i)
                webhook(co, -1 - i)
            checkouts = [checkout(i) for i in range(args.requests)] if args.webhooks else []
            profiler = cProfile.Profile(time.process_time) if args.cpu else cProfile.Profile()
            started = time.perf_counter()
            cpu_started = time.process_time()
            if not args.plain:
                profiler.enable()
            for i in range(args.requests):
                if args.webhooks:
                    webhook(checkouts[i], i)
                else:
                    checkout(args.requests + i)
            profiler.disable()
            wall = time.perf_counter() - started
            cpu = time.process_time() - cpu_started
        finally:
            container.close()
    what = "webhook checkout.session.completed" if args.webhooks else "POST /api/checkout"
    per = 1000 * wall / args.requests
    print(
        f"\n{what}: {args.requests} requests in process, {per:.2f} ms wall and"
        f" {1000 * cpu / args.requests:.2f} ms CPU each"
        + ("" if args.plain else " (profiled: overhead included)")
    )
    if args.plain:
        return 0
    if args.cpu:
        wall = cpu
    stats = pstats.Stats(profiler)
    print("\nshare of the request (cumulative time of the named call, per request):")
    for label, (path_part, func) in GROUPS.items():
        t = _cumulative(stats, path_part, func)
        print(f"  {label:<42} {1000 * t / args.requests:7.2f} ms  {100 * t / wall:5.1f}%")
    for order in ("cumulative", "tottime"):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(args.top)
        text = out.getvalue()
        print(f"\ntop {args.top} by {order}:")
        print(text[text.find("   ncalls") :])
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark ``POST /webhooks/stripe/<shop>``: a paid session becoming an order.

    .venv/bin/python bench/webhooks.py [--url URL] [--requests N]

Setup: checkouts are created through the API (N for concurrency 1, 2N for concurrency 8,
plus warm-ups), and each session is paid: on a throwaway stack through the emulator's
test control (so the payload is the emulator's full session object); with ``--url`` the
session object is built here (id, amount, currency, metadata, customer; no PaymentIntent,
so no metadata sync is queued for an id the emulator never made), so that the dev
stack's emulator delivers nothing of its own. The orders are real orders of that stack:
its worker sends their confirmation emails (to its mailbox folder in development). No webhook endpoint is registered
with the emulator: the bench signs every event itself (``stripe.WebhookSignature``) with
the shop's secret (a throwaway stack sets one before its web starts; with ``--url``, the
stack's own, or one set for the run if it has none), so each event arrives exactly once.

Every checkout buys one MUG-WHITE (one hot stock row, as in a sale) unless --spread.
Scenarios: ``checkout.session.completed`` for a new order at concurrency 1 and 8; the
same events again (same event id: the duplicate path); and the same sessions under new
event ids (the order exists already). Exits non-zero on any unexpected status or result,
or if the number of orders does not match the number of events fulfilled.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import requests
import stripe
from loadgen import (
    Client,
    Reply,
    Result,
    observed,
    print_cpu_table,
    print_table,
    report_failures,
    run_load,
    sessions,
    write_json,
)
from stack import BENCH_SKUS, SHOP, Stack, add_stack_arguments, open_stack

ENDPOINT = "webhooks.stripe_webhook"
TIME_LIMIT = 30.0
WARM = 10
CUSTOMER = {"email": "b@example.test", "name": "B"}


def shop_secret(stack: Stack) -> tuple[str, str | None]:
    """The secret to sign with (the shop's own: a throwaway stack sets one before its web
    starts), and what to restore afterwards (``None``: nothing)."""
    with stack.container() as c:
        with c.uow() as uow:
            shop = uow.shops.get(SHOP)
            if shop is None:
                raise SystemExit(f"no shop {SHOP!r}")
            if shop.stripe_webhook_secret:
                return shop.stripe_webhook_secret, None
            secret = f"whsec_bench_{secrets.token_hex(16)}"
            uow.shops.set_webhook_secret(SHOP, secret)
        wait = c.settings.shop_cache_seconds
    print(f"set a webhook secret for {SHOP!r}; waiting {wait:.0f}s for the web's shop cache")
    time.sleep(wait)  # another process's change reaches the web when its cached shop expires
    return secret, ""


def restore_secret(stack: Stack, previous: str | None) -> None:
    if previous is None or stack.owned:
        return
    with stack.container() as c, c.uow() as uow:
        uow.shops.set_webhook_secret(SHOP, previous or None)


def create_checkouts(stack: Stack, n: int, run: str, spread: bool) -> list[dict[str, Any]]:
    def call(session: Client, i: int) -> Reply:
        sku = BENCH_SKUS[i % len(BENCH_SKUS)] if spread else "MUG-WHITE"
        return session.post(
            f"{stack.web_urls[i % len(stack.web_urls)]}/api/checkout",
            json={"lines": [{"sku": sku, "quantity": 1}]},
            headers={"X-Shop-Id": SHOP, "Idempotency-Key": f"bench-wh-{run}-{i}"},
            timeout=30,
        )

    result = run_load(
        "setup", call, concurrency=8, total=n, time_limit=120, expected=[201], keep_body=True
    )
    bad = [s for s in result.samples if s.status != 201]
    if bad or len(result.samples) != n:
        raise SystemExit(f"setup: could not create {n} checkouts ({result.statuses})")
    return [s.body or {} for s in result.samples]


def paid_session(stack: Stack, co: dict[str, Any]) -> dict[str, Any]:
    if stack.owned:
        resp = requests.post(
            f"{stack.stripe_url}/_emulator/checkout/sessions/{co['session_id']}/complete",
            json={"outcome": "paid", "customer": CUSTOMER},
            timeout=30,
        )
        resp.raise_for_status()
        session: dict[str, Any] = resp.json()
        return session
    return {
        "id": co["session_id"],
        "object": "checkout.session",
        "status": "complete",
        "payment_status": "paid",
        "amount_total": co["amount_total"],
        "currency": co["currency"],
        "payment_intent": None,  # a made-up id would send the stack's metadata sync to the DLQ
        "client_reference_id": co["checkout_id"],
        "metadata": {"shop_id": SHOP, "checkout_id": co["checkout_id"]},
        "customer_details": {**CUSTOMER, "address": None, "phone": None},
        "livemode": False,
    }


def event(session: dict[str, Any], event_id: str) -> dict[str, Any]:
    return {
        "id": event_id,
        "object": "event",
        "api_version": "2026-10-28.endive",
        "type": "checkout.session.completed",
        "created": int(time.time()),
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "data": {"object": session},
    }


def post_event(session: Client, url: str, event: dict[str, Any] | str, secret: str) -> Reply:
    """Deliver one event to the shop's webhook on ``url``, signed as Stripe would."""
    payload = event if isinstance(event, str) else json.dumps(event)
    header = stripe.WebhookSignature.generate_signature_header(payload, secret)
    return session.post(
        f"{url}/webhooks/stripe/{SHOP}",
        data=payload,
        headers={"Stripe-Signature": header, "Content-Type": "application/json"},
        timeout=30,
    )


def webhook_load(
    stack: Stack,
    label: str,
    events: list[dict[str, Any]],
    secret: str,
    concurrency: int,
    expect_result: str,
    clients: list[Client] | None = None,
) -> Result:
    urls = stack.web_urls
    bodies = [json.dumps(e) for e in events]

    def call(session: Client, i: int) -> Reply:
        return post_event(session, urls[i % len(urls)], bodies[i], secret)

    result = observed(
        stack,
        ENDPOINT,
        lambda: run_load(
            label,
            call,
            concurrency=concurrency,
            total=len(events),
            time_limit=TIME_LIMIT,
            expected=[200],
            clients=clients,
            keep_body=True,
        ),
    )
    results = Counter((s.body or {}).get("result") for s in result.samples if s.status == 200)
    result.extra = {"results": dict(results)}
    wrong = sum(n for r, n in results.items() if r != expect_result)
    if wrong:
        result.note = f"{wrong} answer(s) other than {expect_result!r}: {dict(results)}"
    return result


def count_orders(stack: Stack, checkout_ids: list[str]) -> int:
    with stack.container() as c, c.uow() as uow:
        row = uow.conn.execute(
            "SELECT count(*) AS n FROM orders WHERE checkout_id = ANY(%s::uuid[])", (checkout_ids,)
        ).fetchone()
    return int(row["n"]) if row else 0


def paid_sessions(stack: Stack, n: int, run: str, spread: bool) -> list[dict[str, Any]]:
    """``n`` checkouts created through the API, each paid (the session objects)."""
    checkouts = create_checkouts(stack, n, run, spread)
    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(lambda co: paid_session(stack, co), checkouts))


@dataclass
class WebhookRun:
    results: list[Result]
    orders: int
    """Orders in the database for the bench's checkouts."""
    expected_orders: int

    def failed(self) -> bool:
        """Any unexpected answer (printed), wrong result or missing order."""
        return bool(
            report_failures(self.results)
            or self.orders != self.expected_orders
            or any(r.note for r in self.results)
        )


def bench(
    stack: Stack, n: int, run: str, *, spread: bool = False, repeats: bool = True
) -> WebhookRun:
    """New orders at concurrency 1 (n events) and 8 (2n), each after a warm-up; with
    ``repeats``, then the duplicate and order-exists paths."""
    secret, previous = shop_secret(stack)
    results: list[Result] = []
    try:
        levels = ((1, n), (8, 2 * n))
        total = sum(WARM + k for _, k in levels)
        t0 = time.monotonic()
        paid = paid_sessions(stack, total, run, spread)
        print(
            f"setup: {total} checkouts created and paid in {time.monotonic() - t0:.1f}s", flush=True
        )
        first = 0
        fulfilled_events: list[dict[str, Any]] = []
        for concurrency, k in levels:
            clients = sessions(concurrency)
            warm = [
                event(s, f"evt_bench_{run}_{first + j}")
                for j, s in enumerate(paid[first : first + WARM])
            ]
            webhook_load(stack, "warm-up", warm, secret, concurrency, "fulfilled", clients)
            first += WARM
            events = [
                event(s, f"evt_bench_{run}_{first + j}")
                for j, s in enumerate(paid[first : first + k])
            ]
            first += k
            r = webhook_load(
                stack, "completed -> new order", events, secret, concurrency, "fulfilled", clients
            )
            results.append(r)
            fulfilled_events += warm + events
            print(
                f"  new order c={concurrency}: {r.throughput:.1f} ev/s,"
                f" p50 {r.latency_ms(0.5):.1f} ms, p99 {r.latency_ms(0.99):.1f} ms",
                flush=True,
            )
        if repeats:
            replay = fulfilled_events[WARM : WARM + n]
            for concurrency in (1, 8):
                results.append(
                    webhook_load(
                        stack,
                        "same event id again (duplicate)",
                        [event(e["data"]["object"], e["id"]) for e in replay],
                        secret,
                        concurrency,
                        "duplicate",
                    )
                )
            results.append(
                webhook_load(
                    stack,
                    "new event id, order exists",
                    [event(e["data"]["object"], e["id"] + "_again") for e in replay],
                    secret,
                    8,
                    "existing",
                )
            )
        orders = count_orders(stack, [s["metadata"]["checkout_id"] for s in paid])
        stack.check_alive()
    finally:
        restore_secret(stack, previous)
    return WebhookRun(results, orders, len(fulfilled_events))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_stack_arguments(parser, requests=200)
    parser.add_argument(
        "--spread",
        action="store_true",
        help=f"checkouts over {len(BENCH_SKUS)} SKUs instead of all MUG-WHITE (one hot stock row)",
    )
    args = parser.parse_args()
    n = max(1, args.requests)
    run = uuid.uuid4().hex[:8]
    started = time.monotonic()
    try:
        with open_stack(args.url, web_procs=args.web_procs, keep=args.keep) as stack:
            outcome = bench(stack, n, run, spread=args.spread)
    except KeyboardInterrupt:
        print("interrupted; the stack was stopped", file=sys.stderr)
        return 130
    results = outcome.results
    print_table(
        f"POST /webhooks/stripe/{SHOP} ({'--url ' + args.url if args.url else 'throwaway stack'},"
        f" {len(BENCH_SKUS) if args.spread else 1} SKU(s),"
        f" {args.web_procs} web process(es), {time.monotonic() - started:.0f}s in all)",
        results,
    )
    print_cpu_table(results)
    for r in results:
        print(f"  {r.scenario} c={r.concurrency}: {r.extra} {r.note}".rstrip())
    print(
        "orders in the database for the bench's checkouts:"
        f" {outcome.orders} (expected {outcome.expected_orders})"
    )
    write_json(
        args.json,
        {
            "bench": "webhooks",
            "requests": n,
            "orders": outcome.orders,
            "results": [r.summary() for r in results],
        },
    )
    if outcome.failed():
        print("FAILED: unexpected status(es) or results", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

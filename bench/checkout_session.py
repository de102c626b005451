"""Benchmark ``POST /api/checkout``: creating checkouts, replays and double-clicks.

    .venv/bin/python bench/checkout_session.py [--url URL] [--requests N]

Scenarios (N = --requests, default 200):

* new intent: every request a new ``Idempotency-Key`` (new checkout row, stock hold and
  Stripe session) at concurrency 1, 8 and 32 with N, 2N and 4N requests, each level after
  a short warm-up (10 or 2 x concurrency requests, not counted). Everyone buys one unit of
  the same SKU (the hot inventory row of a sale); --spread adds a concurrency-32 run over
  five SKUs.
* replay: the same key and cart again and again (a retry), concurrency 1 and 8.
* double-click: pairs of simultaneous requests with the same new key (N/2 pairs, 4 pairs
  in flight): one creates, its twin must get the same session (checked).
* emulator direct: the Stripe emulator's own session creation, called straight from the
  bench at concurrency 1, to see what the Stripe part costs. On a throwaway stack the
  emulator is reset before each level, because its cost per call grows with the sessions
  it holds (it sweeps all of them on every call); the second "emulator direct" row shows
  that cost after the concurrency-32 level.

Exits non-zero if any request got an unexpected status (or none at all).
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
import uuid
from typing import Any

import requests
from loadgen import (
    Call,
    Client,
    LoadError,
    Reply,
    Result,
    Sample,
    observed,
    print_cpu_table,
    print_table,
    report_failures,
    run_load,
    sessions,
    write_json,
)
from stack import BENCH_SKUS, SHOP, STRIPE_KEY, Stack, add_stack_arguments, open_stack

LEVELS = ((1, 1), (8, 2), (32, 4))
"""(concurrency, multiple of --requests)."""
LEVEL_TIME_LIMIT = 30.0
ENDPOINT = "checkout.create"


def checkout_call(
    stack: Stack, run: str, *, spread: bool, sku: str, key: str | None = None
) -> Call:
    urls = stack.web_urls

    def call(session: Client, i: int) -> Reply:
        line_sku = BENCH_SKUS[i % len(BENCH_SKUS)] if spread else sku
        return session.post(
            f"{urls[i % len(urls)]}/api/checkout",
            json={"lines": [{"sku": line_sku, "quantity": 1}]},
            headers={"X-Shop-Id": SHOP, "Idempotency-Key": key or f"bench-{run}-{i}"},
            timeout=30,
        )

    return call


def measured(stack: Stack, fn: Any) -> Result:
    return observed(stack, ENDPOINT, fn)


def reset_emulator(stack: Stack) -> None:
    """Forget the emulator's sessions (our own stack only): its cost per call grows with the
    sessions it holds, which real Stripe's does not."""
    if stack.owned:
        requests.post(f"{stack.stripe_url}/_emulator/reset", timeout=10).raise_for_status()


def new_intents(
    stack: Stack,
    n: int,
    run: str,
    *,
    spread: bool,
    sku: str,
    levels: tuple[tuple[int, int], ...] = LEVELS,
    what: str = "new intent",
) -> list[Result]:
    call = checkout_call(stack, run, spread=spread, sku=sku)
    results = []
    first = 0
    for concurrency, multiple in levels:
        reset_emulator(stack)
        clients = sessions(concurrency)
        warm = max(10, 2 * concurrency)
        run_load(
            "warm-up",
            call,
            concurrency=concurrency,
            total=warm,
            time_limit=LEVEL_TIME_LIMIT,
            expected=[201],
            clients=clients,
            first_index=first,
        )
        first += warm
        total = n * multiple
        label = what + (f", {len(BENCH_SKUS)} SKUs" if spread else f", 1 SKU ({sku})")
        result = measured(
            stack,
            lambda c=concurrency, cl=clients, f=first, t=total, lb=label: run_load(
                lb,
                call,
                concurrency=c,
                total=t,
                time_limit=LEVEL_TIME_LIMIT,
                expected=[201],
                clients=cl,
                first_index=f,
            ),
        )
        first += total
        results.append(result)
        print(
            f"  {label} c={concurrency}: {result.throughput:.1f} req/s,"
            f" p50 {result.latency_ms(0.5):.1f} ms, p99 {result.latency_ms(0.99):.1f} ms",
            flush=True,
        )
    return results


def replays(stack: Stack, n: int, run: str, sku: str) -> list[Result]:
    key = f"bench-{run}-replay"
    call = checkout_call(stack, run, spread=False, sku=sku, key=key)
    first = requests.post(
        f"{stack.url}/api/checkout",
        json={"lines": [{"sku": sku, "quantity": 1}]},
        headers={"X-Shop-Id": SHOP, "Idempotency-Key": key},
        timeout=30,
    )
    if first.status_code != 201:
        raise SystemExit(
            f"could not create the checkout to replay: {first.status_code} {first.text}"
        )
    results = []
    for concurrency in (1, 8):
        clients = sessions(concurrency)
        run_load(
            "warm-up",
            call,
            concurrency=concurrency,
            total=10,
            time_limit=10,
            expected=[200],
            clients=clients,
        )
        results.append(
            measured(
                stack,
                lambda c=concurrency, cl=clients: run_load(
                    "replay (same key)",
                    call,
                    concurrency=c,
                    total=n,
                    time_limit=LEVEL_TIME_LIMIT,
                    expected=[200],
                    clients=cl,
                ),
            )
        )
    return results


def double_clicks(stack: Stack, pairs_total: int, run: str, sku: str, in_flight: int = 4) -> Result:
    """``in_flight`` pairs of threads; before each key both threads of a pair meet at a
    barrier and post the same new key at once."""
    per_pair = [list(range(p, pairs_total, in_flight)) for p in range(in_flight)]
    samples: list[list[Sample]] = [[] for _ in range(2 * in_flight)]
    sessions_by_slot = sessions(2 * in_flight)
    urls = stack.web_urls
    deadline = time.perf_counter() + LEVEL_TIME_LIMIT
    barriers = [threading.Barrier(2) for _ in range(in_flight)]
    stop = threading.Event()

    def worker(slot: int) -> None:
        pair, session = slot // 2, sessions_by_slot[slot]
        for k in per_pair[pair]:
            try:
                barriers[pair].wait(timeout=60)
            except threading.BrokenBarrierError:
                return
            if stop.is_set() or time.perf_counter() > deadline:
                stop.set()
                barriers[pair].abort()
                return
            t0 = time.perf_counter()
            try:
                resp = session.post(
                    f"{urls[k % len(urls)]}/api/checkout",
                    json={"lines": [{"sku": sku, "quantity": 1}]},
                    headers={"X-Shop-Id": SHOP, "Idempotency-Key": f"bench-{run}-dbl-{k}"},
                    timeout=30,
                )
                body = (
                    resp.json()
                    if resp.headers.get("content-type", "").startswith("application/json")
                    else None
                )
                samples[slot].append(
                    Sample(k, time.perf_counter() - t0, resp.status_code, None, body)
                )
            except LoadError as exc:
                samples[slot].append(Sample(k, time.perf_counter() - t0, 0, type(exc).__name__))

    def go() -> Result:
        threads = [
            threading.Thread(target=worker, args=(s,), daemon=True) for s in range(2 * in_flight)
        ]
        began = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        flat = sorted((s for chunk in samples for s in chunk), key=lambda s: s.index)
        return Result(
            "double-click (2 at once, same key)",
            2 * in_flight,
            flat,
            time.perf_counter() - began,
            frozenset({200, 201}),
            timed_out=stop.is_set(),
        )

    result = measured(stack, go)
    by_key: dict[int, list[Sample]] = {}
    for s in result.samples:
        by_key.setdefault(s.index, []).append(s)
    wrong = [
        k
        for k, pair in by_key.items()
        if sorted(s.status for s in pair) != [200, 201]
        or len({(s.body or {}).get("session_id") for s in pair}) != 1
    ]
    result.extra = {
        "pairs": len(by_key),
        "pairs_not_one_201_one_200_same_session": len(wrong),
        "p50_ms_201": round(result.latency_ms(0.5, [201]), 2),
        "p50_ms_200": round(result.latency_ms(0.5, [200]), 2),
        "p99_ms_200": round(result.latency_ms(0.99, [200]), 2),
        "answers_over_400ms": sum(1 for s in result.samples if s.seconds > 0.4),
    }
    if wrong:
        result.note = f"{len(wrong)} pair(s) did not get one 201 + one 200 with one session"
    return result


def emulator_direct(stack: Stack, n: int, label: str, concurrency: int = 1) -> Result:
    """POST /v1/checkout/sessions straight to the emulator (what Kassa's Stripe call costs),
    from ``concurrency`` clients."""
    expires = int(time.time()) + 3600
    run = uuid.uuid4().hex[:8]

    def call(session: Client, i: int) -> Reply:
        form = {
            "mode": "payment",
            "line_items[0][price_data][currency]": "usd",
            "line_items[0][price_data][unit_amount]": "1200",
            "line_items[0][price_data][product_data][name]": "Enamel mug",
            "line_items[0][quantity]": "1",
            "metadata[shop_id]": SHOP,
            "metadata[checkout_id]": f"bench-{run}-{i}",
            "client_reference_id": f"bench-{run}-{i}",
            "expires_at": str(expires),
            "success_url": "http://127.0.0.1:8000/checkout/success",
            "cancel_url": "http://127.0.0.1:8000/cart",
            "payment_intent_data[metadata][shop_id]": SHOP,
        }
        return session.post(
            f"{stack.stripe_url}/v1/checkout/sessions",
            data=form,
            headers={
                "Authorization": f"Bearer {STRIPE_KEY}",
                "Idempotency-Key": f"bench-direct-{run}-{i}",
            },
            timeout=30,
        )

    clients = sessions(concurrency)
    warm = max(5, 2 * concurrency)
    run_load(
        "warm-up",
        call,
        concurrency=concurrency,
        total=warm,
        time_limit=10,
        expected=[200],
        clients=clients,
    )
    return observed(
        stack,
        None,
        lambda: run_load(
            label,
            call,
            concurrency=concurrency,
            total=n,
            time_limit=LEVEL_TIME_LIMIT,
            expected=[200],
            clients=clients,
            first_index=warm,  # new idempotency keys: the warm-up's would be replays
        ),
    )


def emulator_sessions(stack: Stack) -> int:
    state = requests.get(f"{stack.stripe_url}/_emulator/state", timeout=5).json()
    return int(state.get("accounts", {}).get(STRIPE_KEY, {}).get("checkout_sessions", 0))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_stack_arguments(parser, requests=200)
    parser.add_argument("--sku", default="MUG-WHITE", help="the SKU every new intent buys")
    parser.add_argument("--spread", action="store_true", help="also run c=32 over all bench SKUs")
    args = parser.parse_args()
    n = max(1, args.requests)
    run = uuid.uuid4().hex[:8]
    started = time.monotonic()
    try:
        with open_stack(args.url, web_procs=args.web_procs, keep=args.keep) as stack:
            direct_n = max(20, n // 2)
            reset_emulator(stack)
            held = emulator_sessions(stack)
            results = [emulator_direct(stack, direct_n, f"emulator direct, {held} sessions held")]
            results += new_intents(stack, n, run, spread=False, sku=args.sku)
            held = emulator_sessions(stack)
            results.append(
                emulator_direct(stack, direct_n, f"emulator direct, {held} sessions held")
            )
            if args.spread:
                results += new_intents(
                    stack, n, run + "s", spread=True, sku=args.sku, levels=LEVELS[-1:]
                )
            reset_emulator(stack)
            results += replays(stack, n, run, args.sku)
            results.append(double_clicks(stack, max(4, n // 2), run, args.sku))
            stack.check_alive()
    except KeyboardInterrupt:
        print("interrupted; the stack was stopped", file=sys.stderr)
        return 130
    print_table(
        f"POST /api/checkout ({'--url ' + args.url if args.url else 'throwaway stack'},"
        f" {args.web_procs} web process(es), {time.monotonic() - started:.0f}s in all)",
        results,
    )
    print_cpu_table(results)
    for r in results:
        if r.extra or r.note:
            print(f"  {r.scenario}: {r.extra} {r.note}".rstrip())
    failures = report_failures(results)
    capped = [r.scenario for r in results if r.timed_out]
    write_json(
        args.json,
        {"bench": "checkout_session", "requests": n, "results": [r.summary() for r in results]},
    )
    if capped:
        print(f"time cap hit in: {', '.join(capped)} (fewer requests than asked)")
    if failures or any(r.note for r in results):
        print(f"FAILED: {failures} unexpected answer(s)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

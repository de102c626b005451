"""Benchmark retention on a large outbox: how long deleting a million done rows takes, and
whether checkouts wait on it.

    .venv/bin/python bench/retention.py [--rows 1000000] [--batch 500] [--requests 60]

On a throwaway stack (bench/stack.py): N done outbox rows, 40 days old, are inserted in one
statement and analysed. Then checkouts (``POST /api/checkout``, one at a time, each a new
intent: a checkout row, a stock hold and an emulator session) run twice: alone (baseline)
and while ``workers.retention.purge`` deletes the N rows in batches of --batch, exactly as
the worker's periodic pass does (keep 30 days). Reported: the purge's time, rows/s and time
per batch; checkout latency p50/p95/max in both runs; the longest any Postgres backend
waited on a lock during the purge (sampled from pg_stat_activity every 20 ms). Exits
non-zero if a checkout failed or rows are left.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from loadgen import percentile, sessions, write_json
from stack import BENCH_SKUS, SHOP, Stack, add_stack_arguments, open_stack

from workers.retention import purge


def fill(stack: Stack, rows: int) -> float:
    started = time.monotonic()
    with stack.container() as c, c.db.pool.connection() as conn:
        conn.execute(
            """
            INSERT INTO outbox (shop_id, kind, payload, dedupe_key, state, attempts,
                                available_at, enqueued_at, done_at, created_at)
            SELECT %s, 'stock_mirror.decrement', '{"kind": "stock_mirror.decrement"}'::jsonb,
                   'bench-retention-' || g, 'done', 1, t, t, t, t
            FROM generate_series(1, %s) AS g,
                 LATERAL (SELECT now() - interval '40 days' + g * interval '1 ms' AS t) AS ts
            """,
            (SHOP, rows),
        )
        conn.execute("ANALYZE outbox")
    return time.monotonic() - started


def checkouts(stack: Stack, n: int, run: str, stop: threading.Event | None = None) -> list[float]:
    """Latencies (ms) of sequential checkouts: ``n`` of them, or until ``stop`` is set."""
    [client] = sessions(1)
    latencies: list[float] = []
    i = 0
    while (stop is None and i < n) or (stop is not None and not stop.is_set()):
        started = time.monotonic()
        resp = client.post(
            f"{stack.url}/api/checkout",
            json={"lines": [{"sku": BENCH_SKUS[i % len(BENCH_SKUS)], "quantity": 1}]},
            headers={"X-Shop-Id": SHOP, "Idempotency-Key": f"retention-{run}-{i}"},
            timeout=30,
        )
        latencies.append((time.monotonic() - started) * 1000)
        if resp.status_code not in (200, 201):
            raise SystemExit(f"checkout {i} answered {resp.status_code}: {resp.text[:200]}")
        i += 1
    return latencies


def lock_waits(stack: Stack, stop: threading.Event, out: dict[str, float]) -> None:
    """The longest a backend was seen waiting on a lock (ms), sampled every 20 ms."""
    with stack.container() as c, c.db.pool.connection() as conn:
        conn.autocommit = True
        longest = 0.0
        while not stop.is_set():
            row = conn.execute(
                "SELECT coalesce(max(extract(epoch FROM now() - state_change)), 0) AS s"
                " FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            ).fetchone()
            longest = max(longest, float(row["s"]) * 1000 if row else 0.0)
            time.sleep(0.02)
        out["longest_lock_wait_ms"] = longest


def summary(latencies: list[float]) -> dict[str, float]:
    return {
        "n": len(latencies),
        "p50": round(percentile(latencies, 0.5), 1),
        "p95": round(percentile(latencies, 0.95), 1),
        "max": round(max(latencies, default=0.0), 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=500)
    add_stack_arguments(parser, requests=60)
    args = parser.parse_args()
    if args.url:
        raise SystemExit("retention inserts a million rows: run it on a throwaway stack only")
    results: dict[str, Any] = {"rows": args.rows, "batch": args.batch}
    with open_stack(web_procs=args.web_procs, keep=args.keep) as stack:
        results["fill_seconds"] = round(fill(stack, args.rows), 1)
        print(f"inserted {args.rows} old done rows in {results['fill_seconds']} s", flush=True)
        checkouts(stack, 5, "warmup")
        results["checkout_alone_ms"] = summary(checkouts(stack, args.requests, "alone"))
        print(f"checkouts alone: {results['checkout_alone_ms']}", flush=True)

        stop = threading.Event()
        during: list[float] = []
        waits: dict[str, float] = {}
        load = threading.Thread(target=lambda: during.extend(checkouts(stack, 0, "during", stop)))
        watch = threading.Thread(target=lock_waits, args=(stack, stop, waits))
        load.start()
        watch.start()
        with stack.container() as c:
            started = time.monotonic()
            deleted = purge(
                c.uow,
                datetime.now(UTC),
                keep_days=30,
                batch_size=args.batch,
                max_batches=args.rows // args.batch + 10,
            )
            seconds = time.monotonic() - started
            stop.set()
            load.join()
            watch.join()
            with c.uow() as uow:
                left, _ = uow.outbox.stats()
        batches = -(-deleted["outbox"] // args.batch)
        results.update(
            purge_seconds=round(seconds, 1),
            deleted=deleted["outbox"],
            rows_per_second=round(deleted["outbox"] / seconds),
            ms_per_batch=round(seconds * 1000 / max(1, batches), 1),
            checkout_during_purge_ms=summary(during),
            left_done_rows=left.get("done", 0),
            **waits,
        )
    print(
        f"purge: {results['deleted']} rows in {results['purge_seconds']} s"
        f" ({results['rows_per_second']} rows/s, {results['ms_per_batch']} ms per batch of"
        f" {args.batch}); longest lock wait seen {waits.get('longest_lock_wait_ms', 0):.0f} ms"
    )
    print(f"checkouts during the purge: {results['checkout_during_purge_ms']}")
    write_json(args.json, {"bench": "retention", "id": uuid.uuid4().hex, **results})
    return 0 if results["left_done_rows"] == 0 and results["deleted"] == args.rows else 1


if __name__ == "__main__":
    sys.exit(main())

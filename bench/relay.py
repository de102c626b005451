"""Benchmark the outbox: relay throughput and commit-to-done lag.

    .venv/bin/python bench/relay.py [--url URL] [--requests N] [--rate R] [--workers 1,2]

Rows are ``stock_mirror.decrement`` side effects (a Lua script on Redis per row), written
with ``uow.outbox.add`` exactly as fulfilment writes them. For each worker count W
(``kassa worker`` processes) two phases run:

* backlog: N rows (default 1000) committed in one transaction, so that they all become
  due at once; rows/s = N / (first enqueued_at .. last done_at) from the outbox table,
  and the lag of each row is counted from the commit.
* steady: rows committed one per transaction at R rows/s (default 50) for N/4 rows;
  lag = done_at - created_at per row (created_at is the inserting transaction's start,
  under a millisecond before its commit), split into relay (created -> enqueued) and
  worker (enqueued -> done).

The relay runs throughout; each worker count starts with a warm-up of 20 rows (first
imports, connections) that is not counted.

With ``--url`` the stack's own relay and workers do the work (W is whatever runs there;
the decrements land on that stack's Redis stock mirror for MUG-WHITE, which
``kassa reconcile`` repairs). Exits non-zero if a row ends dead or is not done in time.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from loadgen import machine_ticks, percentile, write_json
from rq import Worker
from stack import SHOP, Stack, open_stack

from schemas.outbox import StockLine, StockMirrorDecrement
from workers.queue import QUEUE_NAME, outbox_queue

KIND = "stock_mirror.decrement"
PHASE_TIME_LIMIT = 60.0


@dataclass
class Phase:
    name: str
    workers: str
    rows: int
    done: int = 0
    dead: int = 0
    wall_seconds: float = 0.0
    window_seconds: float = 0.0
    lag_ms: dict[str, float] = field(default_factory=dict)
    relay_ms: dict[str, float] = field(default_factory=dict)
    worker_ms: dict[str, float] = field(default_factory=dict)
    cpu_ms: dict[str, float] = field(default_factory=dict)
    machine_busy: float | None = None
    steal: float | None = None
    offered_rate: float | None = None
    committed_at: float | None = None
    """Epoch seconds when the backlog's transaction committed (lag is counted from it)."""

    @property
    def rows_per_second(self) -> float:
        return self.done / self.window_seconds if self.window_seconds else 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "phase": self.name,
            "workers": self.workers,
            "rows": self.rows,
            "done": self.done,
            "dead": self.dead,
            "rows_per_second": round(self.rows_per_second, 1),
            "window_seconds": round(self.window_seconds, 3),
            "wall_seconds": round(self.wall_seconds, 3),
            "offered_rate": self.offered_rate,
            "lag_ms": self.lag_ms,
            "relay_ms": self.relay_ms,
            "worker_ms": self.worker_ms,
            "cpu_ms_per_row": {k: round(v, 2) for k, v in self.cpu_ms.items()},
            "machine_busy": self.machine_busy,
            "steal": self.steal,
        }


def message(i: int, run: str) -> dict[str, Any]:
    return StockMirrorDecrement(
        shop_id=SHOP,
        order_reference=f"B-{run}-{i}",
        lines=[StockLine(sku="MUG-WHITE", quantity=1)],
    ).model_dump(mode="json")


def insert_backlog(stack: Stack, phase: Phase, run: str) -> None:
    with stack.container() as c:
        with c.uow() as uow:
            for i in range(phase.rows):
                uow.outbox.add(SHOP, KIND, message(i, run), f"{phase.name}-{i}")
        phase.committed_at = time.time()  # same host, same clock as Postgres


def insert_steady(stack: Stack, prefix: str, n: int, run: str, rate: float) -> float:
    """One row per transaction, paced at ``rate`` rows/s; returns the rate achieved."""
    started = time.perf_counter()
    with stack.container() as c:
        for i in range(n):
            due = started + i / rate
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            with c.uow() as uow:
                uow.outbox.add(SHOP, KIND, message(i, run), f"{prefix}-{i}")
    return n / (time.perf_counter() - started)


def counts(stack: Stack, prefix: str) -> tuple[int, int]:
    with stack.container() as c, c.uow() as uow:
        row = uow.conn.execute(
            "SELECT count(*) FILTER (WHERE state = 'done') AS done,"
            " count(*) FILTER (WHERE state = 'dead') AS dead"
            " FROM outbox WHERE dedupe_key LIKE %s",
            (prefix + "-%",),
        ).fetchone()
    assert row is not None
    return int(row["done"]), int(row["dead"])


def wait_done(stack: Stack, prefix: str, n: int) -> tuple[int, int]:
    deadline = time.monotonic() + PHASE_TIME_LIMIT
    done, dead = counts(stack, prefix)
    while done + dead < n and time.monotonic() < deadline:
        stack.check_alive()
        time.sleep(0.05)
        done, dead = counts(stack, prefix)
    return done, dead


def timings(stack: Stack, phase: Phase) -> None:
    with stack.container() as c, c.uow() as uow:
        rows = uow.conn.execute(
            """
            SELECT extract(epoch FROM created_at)::float8 AS created,
                   extract(epoch FROM enqueued_at)::float8 AS enq,
                   extract(epoch FROM done_at)::float8 AS fin
            FROM outbox WHERE dedupe_key LIKE %s AND state = 'done'
            """,
            (phase.name + "-%",),
        ).fetchall()
    if not rows:
        return
    start = phase.committed_at or 0.0

    def dist(values: list[float]) -> dict[str, float]:
        out = {
            f"p{int(q * 100)}": round(1000 * percentile(values, q), 1) for q in (0.5, 0.95, 0.99)
        }
        return out | {"max": round(1000 * max(values), 1)}

    phase.lag_ms = dist([r["fin"] - max(r["created"], start) for r in rows])
    phase.relay_ms = dist([r["enq"] - max(r["created"], start) for r in rows])
    phase.worker_ms = dist([r["fin"] - r["enq"] for r in rows])
    phase.window_seconds = max(r["fin"] for r in rows) - min(r["enq"] for r in rows)


def registered_workers(stack: Stack) -> int:
    with stack.container() as c:
        return Worker.count(connection=c.redis, queue=outbox_queue(c.redis))


def start_worker(stack: Stack, index: int) -> None:
    stack.spawn(f"worker-{index}", "ops.cli", "worker", "--no-periodic")
    deadline = time.monotonic() + 30
    while registered_workers(stack) < index + 1:
        stack.check_alive()
        if time.monotonic() > deadline:
            raise SystemExit(f"worker {index} did not register with Redis within 30s")
        time.sleep(0.05)


def measure(stack: Stack, phase: Phase, action: Any) -> None:
    """Run ``action()``, wait for the phase's rows, and record times and CPU per row."""
    cpu0, ticks0 = stack.cpu_seconds(), machine_ticks()
    t0 = time.monotonic()
    action()
    phase.done, phase.dead = wait_done(stack, phase.name, phase.rows)
    phase.wall_seconds = time.monotonic() - t0
    cpu1, ticks1 = stack.cpu_seconds(), machine_ticks()
    phase.cpu_ms = {k: 1000 * (v - cpu0.get(k, 0.0)) / max(1, phase.rows) for k, v in cpu1.items()}
    if ticks1[2] > ticks0[2]:
        phase.machine_busy = round((ticks1[0] - ticks0[0]) / (ticks1[2] - ticks0[2]), 3)
        phase.steal = round((ticks1[1] - ticks0[1]) / (ticks1[2] - ticks0[2]), 3)
    timings(stack, phase)


def print_phases(title: str, phases: list[Phase]) -> None:
    print(f"\n{title}")
    head = (
        f"{'phase':<8} {'workers':>7} {'rows':>5} {'done':>5} {'dead':>4} {'rows/s':>7}"
        f" {'lag p50':>8} {'lag p95':>8} {'lag p99':>8} {'lag max':>8}"
        f" {'relay p50':>9} {'relay p99':>9} {'worker p50':>10} {'worker p99':>10}"
    )
    print(head)
    print("-" * len(head))
    for p in phases:
        rate = p.rows_per_second if p.name.startswith("backlog") else (p.offered_rate or 0.0)
        print(
            f"{p.name.split('-')[0]:<8} {p.workers:>7} {p.rows:>5} {p.done:>5} {p.dead:>4}"
            f" {rate:>7.1f} {p.lag_ms.get('p50', 0):>8.1f} {p.lag_ms.get('p95', 0):>8.1f}"
            f" {p.lag_ms.get('p99', 0):>8.1f} {p.lag_ms.get('max', 0):>8.1f}"
            f" {p.relay_ms.get('p50', 0):>9.1f} {p.relay_ms.get('p99', 0):>9.1f}"
            f" {p.worker_ms.get('p50', 0):>10.1f} {p.worker_ms.get('p99', 0):>10.1f}"
        )
    print(
        "times in ms; rows/s: backlog = rows / (first enqueued_at .. last done_at),"
        " steady = the rate offered;\nlag = done_at - commit (backlog) or created_at (steady),"
        " relay = enqueued_at - the same, worker = done_at - enqueued_at"
    )
    groups = sorted({k for p in phases for k in p.cpu_ms}, key=lambda k: (k == "bench", k))
    if groups not in ([], ["bench"]):
        print("\nCPU milliseconds per row, by process group")
        print(
            f"{'phase':<8} {'workers':>7} "
            + " ".join(f"{g:>9}" for g in groups)
            + f" {'busy':>5} {'steal':>5} {'wall s':>7}"
        )
        for p in phases:
            print(
                f"{p.name.split('-')[0]:<8} {p.workers:>7} "
                + " ".join(f"{p.cpu_ms.get(g, 0.0):>9.2f}" for g in groups)
                + f" {100 * (p.machine_busy or 0):>4.0f}% {100 * (p.steal or 0):>4.0f}%"
                + f" {p.wall_seconds:>7.1f}"
            )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default=None, help="use this running Kassa's relay and workers")
    parser.add_argument("--requests", type=int, default=1000, help="backlog rows per phase")
    parser.add_argument("--rate", type=float, default=50.0, help="steady rows per second")
    parser.add_argument("--workers", default="1,2", help="worker counts to run, e.g. 1,2")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    n = max(1, args.requests)
    steady_n = max(10, n // 4)
    worker_counts = [int(w) for w in args.workers.split(",") if w.strip()]
    run = uuid.uuid4().hex[:8]
    phases: list[Phase] = []
    started = time.monotonic()
    try:
        with open_stack(args.url, web_procs=0, keep=args.keep, prepare=False) as stack:
            plan = worker_counts if stack.owned else [0]
            if stack.owned:
                stack.spawn("relay", "ops.cli", "relay")
            running = 0
            for workers in plan:
                label = str(workers) if stack.owned else "theirs"
                while stack.owned and running < workers:
                    start_worker(stack, running)
                    running += 1
                warm = Phase(f"warm-{run}-{workers}", label, 20)
                measure(stack, warm, lambda w=warm: insert_steady(stack, w.name, 20, run, 100.0))
                backlog = Phase(f"backlog-{run}-{workers}", label, n)
                measure(stack, backlog, lambda b=backlog: insert_backlog(stack, b, run))
                phases.append(backlog)
                print(
                    f"  backlog, {label} worker(s): {backlog.done}/{n} done,"
                    f" {backlog.rows_per_second:.1f} rows/s",
                    flush=True,
                )
                steady = Phase(f"steady-{run}-{workers}", label, steady_n)
                measure(
                    stack,
                    steady,
                    lambda s=steady: setattr(
                        s,
                        "offered_rate",
                        round(insert_steady(stack, s.name, steady_n, run, args.rate), 1),
                    ),
                )
                phases.append(steady)
                print(
                    f"  steady {steady.offered_rate} rows/s, {label} worker(s):"
                    f" lag p50 {steady.lag_ms.get('p50')} ms, p99 {steady.lag_ms.get('p99')} ms",
                    flush=True,
                )
            queue_left = 0
            with stack.container() as c:
                queue_left = len(outbox_queue(c.redis))
    except KeyboardInterrupt:
        print("interrupted; the stack was stopped", file=sys.stderr)
        return 130
    print_phases(
        f"outbox relay + workers, {KIND} rows ({'--url ' + args.url if args.url else 'throwaway stack'},"
        f" {time.monotonic() - started:.0f}s in all)",
        phases,
    )
    print(f"jobs left in the RQ queue {QUEUE_NAME!r}: {queue_left}")
    write_json(args.json, {"bench": "relay", "rows": n, "phases": [p.summary() for p in phases]})
    bad = [p for p in phases if p.done != p.rows]
    if bad:
        for p in bad:
            print(f"FAILED: {p.name}: {p.done} done, {p.dead} dead of {p.rows}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark the outbox: drain rate and commit-to-done lag, beside raw RQ and procrastinate.

    .venv/bin/python bench/relay.py [--url URL] [--requests N] [--rate R] [--per-tx K]
        [--workers 1,2] [--references rq,procrastinate|none] [--procrastinate 1x1,1x4,2x4]
        [--stripe-latency-ms MS]

Rows are ``stock_mirror.decrement`` side effects (a Lua script on Redis per row), written
as ``uow.outbox.add_message`` writes them. For each worker count W (``kassa worker``
processes) two phases run:

* backlog: N rows (default 3000) committed in one transaction, so that they all become
  due at once; rows/s = N / (first enqueued_at .. last done_at) from the outbox table,
  and the lag of each row is counted from the commit. The relay's own rate is
  N / (first .. last enqueued_at).
* steady: K rows per transaction (default 5, one order's effects) at R rows/s (default
  500) for N/4 rows; lag = done_at - created_at per row (created_at is the inserting
  transaction's start, under a millisecond before its commit), split into relay
  (created -> enqueued) and worker (enqueued -> done).

The relay runs throughout; each worker count starts with a warm-up of 20 rows (first
imports, connections) that is not counted.

Then, on the same Postgres and Redis, with Kassa's workers stopped (``bench/references.py``):
raw RQ ``enqueue_many`` of trivial jobs, W raw RQ ``SimpleWorker`` processes draining
them, and procrastinate (``pip install -e '.[bench]'``) with each PROCESSESxCONCURRENCY
plan draining trivial jobs. The closing table gives Kassa / reference ratios from the run.

Last, a stripe phase (with the most workers, or ``--stripe-workers``): ``--stripe-rows``
``stripe.expire_session`` rows for sessions the emulator never issued (two Stripe calls
each, no setup), 3 per transaction at ``--stripe-rate`` rows/s, through the worker's
thread pool. ``--stripe-latency-ms`` (``250`` or ``200-300``) is passed to the emulator as
``STRIPE_EMULATOR_LATENCY_MS``.

With ``--url`` the stack's own relay and workers do the work (W is whatever runs there;
the decrements land on that stack's Redis stock mirror for MUG-WHITE, which
``kassa reconcile`` repairs) and no reference runs. Exits non-zero if a row ends dead or
is not done in time.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import psycopg
import references
from loadgen import machine_ticks, percentile, write_json
from psycopg.types.json import Jsonb
from rq import Worker
from stack import SHOP, Stack, open_stack

from schemas.outbox import ExpireSession, Message, StockLine, StockMirrorDecrement
from workers.queue import QUEUE_NAME, outbox_queue

KIND = "stock_mirror.decrement"
PHASE_TIME_LIMIT = 60.0
REFERENCE_TIME_LIMIT = 300.0


@dataclass
class Phase:
    name: str
    workers: str
    rows: int
    done: int = 0
    dead: int = 0
    wall_seconds: float = 0.0
    window_seconds: float = 0.0
    enqueue_window_seconds: float = 0.0
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

    @property
    def relayed_per_second(self) -> float:
        """How fast the relay claimed and enqueued the phase's rows."""
        return self.rows / self.enqueue_window_seconds if self.enqueue_window_seconds else 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "phase": self.name,
            "workers": self.workers,
            "rows": self.rows,
            "done": self.done,
            "dead": self.dead,
            "rows_per_second": round(self.rows_per_second, 1),
            "window_seconds": round(self.window_seconds, 3),
            "relayed_per_second": round(self.relayed_per_second, 1),
            "wall_seconds": round(self.wall_seconds, 3),
            "offered_rate": self.offered_rate,
            "lag_ms": self.lag_ms,
            "relay_ms": self.relay_ms,
            "worker_ms": self.worker_ms,
            "cpu_ms_per_row": {k: round(v, 2) for k, v in self.cpu_ms.items()},
            "machine_busy": self.machine_busy,
            "steal": self.steal,
        }


STRIPE_KIND = "stripe.expire_session"


def message(i: int, run: str, kind: str = KIND) -> Message:
    if kind == STRIPE_KIND:
        # A session the emulator never issued: expire answers resource_missing, so does the
        # retrieve that follows, and the row is done: two Stripe calls, no setup.
        return ExpireSession(
            shop_id=SHOP, checkout_id=uuid.uuid4(), session_id=f"cs_test_bench_{run}_{i}"
        )
    return StockMirrorDecrement(
        shop_id=SHOP,
        order_reference=f"B-{run}-{i}",
        lines=[StockLine(sku="MUG-WHITE", quantity=1)],
    )


def insert_backlog(stack: Stack, phase: Phase, run: str) -> None:
    with stack.container() as c:
        with c.uow() as uow:
            for i in range(phase.rows):
                uow.outbox.add_message(message(i, run), f"{phase.name}-{i}")
        phase.committed_at = time.time()  # same host, same clock as Postgres


def insert_steady(
    stack: Stack, prefix: str, n: int, run: str, rate: float, per_tx: int = 1, kind: str = KIND
) -> float:
    """``per_tx`` rows per transaction (an order's worth of effects), paced at ``rate``
    rows/s; returns the rate achieved. The rows of a transaction go in one pipelined
    ``executemany`` (the same INSERT as ``OutboxRepository.add_message``), so that a busy
    machine starves the load generator less."""
    rows = [
        (SHOP, kind, Jsonb(message(i, run, kind).model_dump(mode="json")), f"{prefix}-{i}")
        for i in range(n)
    ]
    started = time.perf_counter()
    with psycopg.connect(stack.database_url) as conn:
        for first in range(0, n, per_tx):
            due = started + first / rate
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            with conn.transaction(), conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO outbox (shop_id, kind, payload, dedupe_key)"
                    " VALUES (%s, %s, %s, %s)",
                    rows[first : first + per_tx],
                )
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
    phase.enqueue_window_seconds = max(r["enq"] for r in rows) - min(r["enq"] for r in rows)


def worker_processes(stack: Stack) -> int:
    """Processes with an RQ worker on the queue (each runs ``KASSA_WORKER_JOBS`` of them)."""
    with stack.container() as c:
        return len({w.pid for w in Worker.all(connection=c.redis, queue=outbox_queue(c.redis))})


def start_worker(stack: Stack, index: int) -> None:
    stack.spawn(f"worker-{index}", "ops.cli", "worker", "--no-periodic")
    deadline = time.monotonic() + 30
    while worker_processes(stack) < index + 1:
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


@dataclass
class Reference:
    name: str
    workers: str
    rows: int
    done: int
    rows_per_second: float

    def summary(self) -> dict[str, Any]:
        return {
            "reference": self.name,
            "workers": self.workers,
            "rows": self.rows,
            "done": self.done,
            "rows_per_second": round(self.rows_per_second, 1),
        }


def measure_rq(stack: Stack, worker_counts: list[int], n: int, run: str) -> list[Reference]:
    """Raw RQ on the stack's Redis: ``enqueue_many`` speed, then W ``SimpleWorker``
    processes draining n trivial jobs (first enqueued .. last finished)."""
    queue = references.rq_queue(stack.redis_url)
    ids, enqueue_rate = references.rq_enqueue(queue, n, f"{run}-enqueue-only")
    queue.empty()
    out = [Reference("RQ enqueue_many", "-", n, n, enqueue_rate)]
    running = 0
    for workers in worker_counts:
        while running < workers:
            stack.spawn(f"rqref-{running}", "bench.references", "rq-worker", stack.redis_url)
            running += 1
        references.wait(lambda w=workers: references.rq_workers_ready(queue) >= w, 30, "RQ workers")
        ids, _ = references.rq_enqueue(queue, n, f"{run}-{workers}")
        references.wait(
            lambda i=ids: references.rq_finished(queue, i) == n, REFERENCE_TIME_LIMIT, "RQ"
        )
        out.append(
            Reference(
                "RQ SimpleWorker drain",
                str(workers),
                n,
                n,
                n / references.rq_window(queue, ids),
            )
        )
        print(f"  raw RQ, {workers} worker(s): {out[-1].rows_per_second:.1f} jobs/s", flush=True)
    for i in range(running):
        stack.stop_process(f"rqref-{i}")
    return out


def _plan(text: str) -> tuple[int, int]:
    """``PROCESSESxCONCURRENCY`` (``2x4``) as two numbers."""
    processes, concurrency = text.split("x")
    return int(processes), int(concurrency)


def measure_procrastinate(stack: Stack, plans: list[tuple[int, int]], n: int) -> list[Reference]:
    """procrastinate on the stack's Postgres: P worker processes of concurrency C each
    draining n trivial jobs (first deferred .. last succeeded)."""
    if not references.procrastinate_available():
        print("  procrastinate is not installed (pip install -e '.[bench]'); skipped", flush=True)
        return []
    references.procrastinate_prepare(stack.database_url)
    out = []
    first = 0
    for procs, concurrency in plans:
        names = [f"procref-{procs}x{concurrency}-{i}" for i in range(procs)]
        for name in names:
            stack.spawn(
                name,
                "bench.references",
                "procrastinate-worker",
                stack.database_url,
                str(concurrency),
            )
        warm = first  # one job per process to see them all running
        references.procrastinate_defer(stack.database_url, warm, procs)
        references.wait(
            lambda w=warm, p=procs: references.procrastinate_counts(stack.database_url, w)[0] >= p,
            60,
            "procrastinate workers",
        )
        first = warm + procs
        references.procrastinate_defer(stack.database_url, first, n)
        references.wait(
            lambda f=first: references.procrastinate_counts(stack.database_url, f)[0] >= n,
            REFERENCE_TIME_LIMIT,
            "procrastinate",
        )
        done, window = references.procrastinate_counts(stack.database_url, first)
        label = f"{procs}x{concurrency}"
        out.append(Reference("procrastinate drain", label, n, done, done / window))
        print(f"  procrastinate, {label}: {out[-1].rows_per_second:.1f} jobs/s", flush=True)
        for name in names:
            stack.stop_process(name)
        first += n
    return out


def print_comparison(phases: list[Phase], refs: list[Reference]) -> None:
    """Kassa beside each reference, with the ratio to its counterpart: the relay against
    raw ``enqueue_many``, a drain against raw RQ with as many workers, and Kassa's best
    drain against procrastinate's best."""
    backlog = {p.workers: p for p in phases if p.name.startswith("backlog")}
    if not backlog or not refs:
        return
    best = max(p.rows_per_second for p in backlog.values())
    relayed = max(p.relayed_per_second for p in backlog.values())
    best_peer = max((r.rows_per_second for r in refs if "procrastinate" in r.name), default=0.0)
    print(
        "\nside by side, same run (rows/s; Kassa's rows carry a real effect, the references none)"
    )
    print(f"{'what':<34} {'workers':>8} {'rows/s':>9} {'Kassa':>9} {'Kassa / it':>10}")
    for r in refs:
        if r.name.startswith("RQ enqueue"):
            kassa = relayed
        elif r.name.startswith("RQ"):
            kassa = backlog[r.workers].rows_per_second if r.workers in backlog else 0.0
        else:
            kassa = best if r.rows_per_second == best_peer else 0.0
        ratio = f"{kassa / r.rows_per_second:>10.2f}" if kassa and r.rows_per_second else ""
        shown = f"{kassa:>9.1f}" if kassa else f"{'':>9}"
        print(f"{r.name:<34} {r.workers:>8} {r.rows_per_second:>9.1f} {shown} {ratio}")


def build_parser() -> argparse.ArgumentParser:
    """The command line, also what ``bench/run.py`` passes to ``bench``."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default=None, help="use this running Kassa's relay and workers")
    parser.add_argument("--requests", type=int, default=3000, help="backlog rows per phase")
    parser.add_argument("--rate", type=float, default=500.0, help="steady rows per second")
    parser.add_argument(
        "--per-tx", type=int, default=5, help="steady rows per transaction (one order's effects)"
    )
    parser.add_argument(
        "--references",
        default="rq,procrastinate",
        help="same-run references to measure: rq, procrastinate, or none",
    )
    parser.add_argument("--reference-jobs", type=int, default=1000, help="jobs per reference drain")
    parser.add_argument(
        "--procrastinate",
        default="1x1,1x4,1x8,2x4",
        help="procrastinate plans, PROCESSESxCONCURRENCY, comma separated",
    )
    parser.add_argument(
        "--stripe-latency-ms",
        default=None,
        help="STRIPE_EMULATOR_LATENCY_MS for the emulator, e.g. 250 or 200-300 (if it supports it)",
    )
    parser.add_argument(
        "--stripe-rows",
        type=int,
        default=450,
        help=f"rows of {STRIPE_KIND} (two Stripe calls each) in the last phase; 0 skips it",
    )
    parser.add_argument("--stripe-rate", type=float, default=150.0, help="their rows per second")
    parser.add_argument(
        "--stripe-workers", type=int, default=0, help="workers for it (default: the most above)"
    )
    parser.add_argument("--workers", default="1,2", help="worker counts to run, e.g. 1,2")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--json", default=None)
    return parser


@dataclass
class RelayRun:
    phases: list[Phase]
    refs: list[Reference]
    queue_left: int


def bench(stack: Stack, args: argparse.Namespace, run: str) -> RelayRun:
    """Kassa's phases for each worker count, the stripe phase, then the references (on a
    stack of our own), as ``args`` asks."""
    n = max(1, args.requests)
    steady_n = max(10, n // 4)
    worker_counts = [int(w) for w in args.workers.split(",") if w.strip()]
    wanted = {r.strip() for r in args.references.split(",")}
    refs: list[Reference] = []
    phases: list[Phase] = []
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
                round(
                    insert_steady(stack, s.name, steady_n, run, args.rate, args.per_tx),
                    1,
                ),
            ),
        )
        phases.append(steady)
        print(
            f"  steady {steady.offered_rate} rows/s, {label} worker(s):"
            f" lag p50 {steady.lag_ms.get('p50')} ms, p99 {steady.lag_ms.get('p99')} ms",
            flush=True,
        )
    if stack.owned and args.stripe_rows > 0:
        workers = args.stripe_workers or max(worker_counts)
        while running < workers:
            start_worker(stack, running)
            running += 1
        stripe = Phase(f"stripe-{run}-{workers}", str(workers), args.stripe_rows)
        measure(
            stack,
            stripe,
            lambda s=stripe: setattr(
                s,
                "offered_rate",
                round(
                    insert_steady(stack, s.name, s.rows, run, args.stripe_rate, 3, STRIPE_KIND),
                    1,
                ),
            ),
        )
        phases.append(stripe)
        print(
            f"  {STRIPE_KIND} {stripe.offered_rate} rows/s, {workers} worker(s):"
            f" lag p50 {stripe.lag_ms.get('p50')} ms, p99 {stripe.lag_ms.get('p99')} ms",
            flush=True,
        )
    queue_left = 0
    with stack.container() as c:
        queue_left = len(outbox_queue(c.redis))
    if stack.owned:
        for i in range(running):
            stack.stop_process(f"worker-{i}")
        if "rq" in wanted:
            refs += measure_rq(stack, worker_counts, args.reference_jobs, run)
        if "procrastinate" in wanted:
            plans = [_plan(p) for p in args.procrastinate.split(",")]
            refs += measure_procrastinate(stack, plans, args.reference_jobs)
    return RelayRun(phases, refs, queue_left)


def main() -> int:
    args = build_parser().parse_args()
    n = max(1, args.requests)
    run = uuid.uuid4().hex[:8]
    if args.stripe_latency_ms is not None:
        os.environ["STRIPE_EMULATOR_LATENCY_MS"] = args.stripe_latency_ms
    started = time.monotonic()
    try:
        with open_stack(args.url, web_procs=0, keep=args.keep, prepare=False) as stack:
            outcome = bench(stack, args, run)
    except KeyboardInterrupt:
        print("interrupted; the stack was stopped", file=sys.stderr)
        return 130
    phases, refs, queue_left = outcome.phases, outcome.refs, outcome.queue_left
    print_phases(
        f"outbox relay + workers, {KIND} rows ({'--url ' + args.url if args.url else 'throwaway stack'},"
        f" {time.monotonic() - started:.0f}s in all)",
        phases,
    )
    print(f"jobs left in the RQ queue {QUEUE_NAME!r}: {queue_left}")
    print_comparison(phases, refs)
    write_json(
        args.json,
        {
            "bench": "relay",
            "rows": n,
            "phases": [p.summary() for p in phases],
            "references": [r.summary() for r in refs],
        },
    )
    bad = [p for p in phases if p.done != p.rows]
    if bad:
        for p in bad:
            print(f"FAILED: {p.name}: {p.done} done, {p.dead} dead of {p.rows}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

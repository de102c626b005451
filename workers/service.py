"""``kassa worker``: RQ workers on the ``kassa`` queue, ``worker_jobs`` of them in threads
of one process, with RQ's scheduler (without it ``Retry`` intervals never fire), plus the
periodic hold reaper and reconciliation (stock mirror against Postgres, Stripe's events and
sessions against orders), all sharing one Container.

Each RQ worker runs one job at a time in its own thread (a ``SimpleWorker``: no fork, so the
Container's pools are built once and reused). Several of them in one process share the
effect threads and the per-shop bound of ``workers.jobs``, so those, not the job boundary,
bound what is in flight: a job waiting on a slow Stripe holds one thread, not the process.
Each is its own RQ worker (its own registration, started registry entries, heartbeats),
so RQ's bookkeeping and our recovery after a crash (``docs/outbox.md``) see N ordinary
workers that happen to share a pid. RQ's scheduler runs in a thread of its own
(``Scheduler``), not in the process RQ would fork for it.

The main thread owns SIGTERM and SIGINT. The first asks every worker to stop: each
finishes the job it holds (an idle one notices within ``DEQUEUE_TIMEOUT_SECONDS``) and the
process exits 0. A second one exits at once; the jobs it cuts short are recovered like
those of a killed worker. If Redis goes away a worker waits and starts over instead of
exiting.

**No per-job timeout.** RQ's default penalty (SIGALRM) only works in the main thread, and
its thread-safe one (``TimerDeathPenalty``) injects an exception at an arbitrary point of
the job's thread: it cannot interrupt a blocking call (a socket read, a lock wait), which
is what a hung job is stuck in, and where it does land (inside a pool's or a semaphore's
bookkeeping) it can leak a Postgres connection or a shop's slot for the life of the
process. Every blocking call a job makes has a deadline of its own instead: Stripe
(``stripe_timeout_seconds``, retries counted), SMTP, merchant webhooks, the Postgres pool's
wait, Redis's socket timeout. The job's RQ timeout (300 s) still sets how long RQ keeps its
started-registry entry before treating it as abandoned.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from types import FrameType
from typing import Any

import redis
from rq import Queue, SimpleWorker
from rq.job import Job
from rq.scheduler import RQScheduler
from rq.timeouts import BaseDeathPenalty

from checkout.ports import Services
from checkout.reaper import reap
from checkout.reconcile import reconcile
from kassa.bootstrap import Container
from workers import context
from workers.failures import error_code
from workers.metrics import PERIODIC_PASSES
from workers.queue import QUEUE_NAME
from workers.retention import purge

log = logging.getLogger(__name__)

MAINTENANCE_INTERVAL_SECONDS = 30
"""How soon RQ restarts a dead scheduler process and cleans its registries."""

RESTART_DELAYS = (0.5, 1.0, 2.0, 5.0, 10.0)
"""Waits before starting over after consecutive exits of a worker loop (Redis errors)."""

PERIODIC_CONNECTIONS = 3
"""Postgres connections a worker needs beside its effect threads and its job threads: the
reaper's, the reconciler's and retention's."""

HEALTHY_RUN_SECONDS = 60.0
"""A worker loop that ran this long before exiting starts the backoff from the beginning."""

DEQUEUE_TIMEOUT_SECONDS = 5
"""How long an idle worker blocks on Redis before it looks at the stop request again (RQ's
default, 405 s, would hold a warm shutdown that long)."""


class NoDeathPenalty(BaseDeathPenalty):
    """No per-job timeout (see the module's docstring for why)."""

    def setup_death_penalty(self) -> None:
        pass

    def cancel_death_penalty(self) -> None:
        pass


class KassaWorker(SimpleWorker):
    """An RQ worker meant to run in a thread: no signal handlers (the main thread owns
    them), no SIGALRM, and a stop request that is the process's ``stop`` event."""

    max_connection_wait_time = 5.0
    """RQ's reconnect backoff caps at 60 s by default; a short cap resumes soon after an outage."""

    death_penalty_class = NoDeathPenalty

    def __init__(self, *args: Any, stop: threading.Event, **kwargs: Any) -> None:
        self._stop = stop  # before RQ's __init__, which resets ``_stop_requested``
        super().__init__(*args, **kwargs)

    @property
    def _stop_requested(self) -> bool:
        return self._stop.is_set()

    @_stop_requested.setter
    def _stop_requested(self, value: bool) -> None:
        if value:  # pragma: no cover - RQ sets it only from its signal handlers, not installed
            self._stop.set()

    @property
    def dequeue_timeout(self) -> int:
        return DEQUEUE_TIMEOUT_SECONDS

    def dequeue_job_and_maintain_ttl(
        self, timeout: int | None, max_idle_time: int | None = None
    ) -> tuple[Job, Queue] | None:
        """RQ's wait for a job, cut into ``timeout`` slices (RQ itself keeps blocking until a
        job comes, and counts on a signal to interrupt it); ``None`` once stop is asked,
        which ends RQ's work loop."""
        if timeout is None:  # burst: one non-blocking look
            return super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)
        while True:
            found = super().dequeue_job_and_maintain_ttl(timeout, max_idle_time=timeout)
            if found is not None or self._stop.is_set():
                return found

    def _install_signal_handlers(self) -> None:
        """Signals are the main thread's (``run_worker``)."""


def reap_now(services: Services) -> int:
    released = reap(services, datetime.now(UTC))
    if released:
        log.info("lapsed holds released", extra={"checkouts": released})
    return released


class Periodic(threading.Thread):
    """Runs ``task`` every ``interval`` seconds until ``stop`` is set. Every worker process
    runs the reaper, the reconciler and retention this way: all are idempotent (checkout
    locks, holds finished once, deduplicated outbox rows, event ids, a lease on each shop's
    event walk, retention batches that skip each other's rows), so more workers only mean
    more frequent, harmless passes. A pass that fails is logged and counted (an alert
    fires when a task fails pass after pass); the next pass starts over."""

    def __init__(
        self, name: str, task: Callable[[], object], interval: float, stop: threading.Event
    ) -> None:
        super().__init__(name=f"kassa-{name}", daemon=True)
        self.task, self.interval, self.stop = task, interval, stop
        self.task_name = name

    def run(self) -> None:
        while not self.stop.wait(self.interval):
            try:
                self.task()
            except Exception as exc:
                PERIODIC_PASSES.labels(self.task_name, "failed").inc()
                log.warning(f"{self.name} pass failed", extra={"error": type(exc).__name__})
            else:
                PERIODIC_PASSES.labels(self.task_name, "ok").inc()


class Scheduler(threading.Thread):
    """RQ's scheduler: every ``interval`` seconds it moves the jobs whose retry time has
    come (RQ's ``Retry`` intervals) back into the queue, holding RQ's lock on the queue so
    that one scheduler among all workers does it.

    RQ runs it in a process forked from the worker. Forking a process that has threads (the
    job threads, the effects pool, the periodic passes) copies the locks those threads hold
    at that instant (logging's, a connection pool's) with no thread left to release them:
    a scheduler child stuck on one never enqueues a retry again, and the rows wait for the
    relay's stale sweep. So it runs here, as a thread, with RQ's own steps."""

    def __init__(self, connection: redis.Redis, stop: threading.Event) -> None:
        super().__init__(name="kassa-scheduler", daemon=True)
        self.scheduler = RQScheduler([QUEUE_NAME], connection=connection)
        self.stop = stop

    def run(self) -> None:
        while True:
            self.run_once()
            if self.stop.wait(self.scheduler.interval):
                break
        with contextlib.suppress(redis.RedisError):
            self.scheduler.release_locks()  # type: ignore[no-untyped-call]

    def run_once(self) -> None:
        try:
            # Without the lock, ask again at every pass (one Redis call): a worker holding it
            # that dies lets it lapse after a minute, and another takes over at once.
            if not self.scheduler.acquired_locks or self.scheduler.should_reacquire_locks:
                self.scheduler.acquire_locks()  # type: ignore[no-untyped-call]
            if self.scheduler.acquired_locks:
                self.scheduler.heartbeat()  # type: ignore[no-untyped-call]
                self.scheduler.enqueue_scheduled_jobs()  # type: ignore[no-untyped-call]
        except redis.RedisError as exc:
            log.warning("scheduler lost Redis", extra={"error": type(exc).__name__})


def run_worker(container: Container, *, burst: bool = False, periodic: bool = True) -> int:
    context.install(container)
    settings = container.settings
    needed = settings.worker_threads + settings.worker_jobs + PERIODIC_CONNECTIONS
    if settings.db_pool_max < needed:
        log.warning(
            "KASSA_DB_POOL_MAX is below KASSA_WORKER_THREADS + KASSA_WORKER_JOBS + 3;"
            " effects will wait for connections",
            extra={
                "db_pool_max": settings.db_pool_max,
                "worker_threads": settings.worker_threads,
                "worker_jobs": settings.worker_jobs,
            },
        )
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            log.warning("cold shutdown: jobs in flight are left to crash recovery")
            raise SystemExit(1)
        log.info("warm shutdown: finishing the jobs in flight")
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if periodic and not burst:
        reaper = functools.partial(reap_now, container)
        Periodic("reaper", reaper, settings.reaper_interval_seconds, stop).start()
        Periodic(
            "reconciler", lambda: reconcile(container), settings.reconcile_interval_seconds, stop
        ).start()
        Periodic(
            "retention",
            lambda: purge(
                container.uow,
                datetime.now(UTC),
                keep_days=settings.retention_days,
                batch_size=settings.retention_batch_size,
            ),
            settings.retention_interval_seconds,
            stop,
        ).start()
    scheduler = Scheduler(container.redis, stop)
    if burst:  # one pass: what is due now joins the queue this run drains
        scheduler.run_once()
        scheduler.scheduler.release_locks()  # type: ignore[no-untyped-call]
    else:
        scheduler.start()
    loops = [
        threading.Thread(
            target=work_loop,
            args=(container, stop),
            kwargs={"burst": burst},
            name=f"kassa-jobs-{i}",
            daemon=True,  # a cold shutdown does not wait for them
        )
        for i in range(settings.worker_jobs)
    ]
    for loop in loops:
        loop.start()
    for loop in loops:
        while loop.is_alive():
            loop.join(0.5)  # short waits, so that the main thread keeps handling signals
    stop.set()
    return 0


def work_loop(container: Container, stop: threading.Event, *, burst: bool) -> None:
    """One RQ worker after another until ``stop``: a loop that exits (Redis went away) is
    replaced after a backoff, so an outage never ends the process."""
    failures = 0
    while not stop.is_set():
        started = time.monotonic()
        try:
            worker = KassaWorker(
                [QUEUE_NAME],
                connection=container.redis,
                maintenance_interval=MAINTENANCE_INTERVAL_SECONDS,
                stop=stop,
            )
            worker.work(
                burst=burst,
                with_scheduler=False,  # ``Scheduler`` instead
                logging_level=container.settings.log_level,
            )
        except redis.RedisError as exc:
            log.warning("worker lost Redis", extra={"error": type(exc).__name__})
        # A bug in RQ, say: a thread that died here would shrink the process for good.
        except Exception as exc:  # pragma: no cover - no test provokes a bug in RQ
            log.error("worker loop failed", extra={"error": error_code(exc)})
        if burst:
            return
        if time.monotonic() - started > HEALTHY_RUN_SECONDS:  # pragma: no cover - takes 60 s
            failures = 0
        stop.wait(RESTART_DELAYS[min(failures, len(RESTART_DELAYS) - 1)])
        failures += 1

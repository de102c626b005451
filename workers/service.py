"""``kassa worker``: an RQ worker on the ``kassa`` queue, with RQ's scheduler (without it
``Retry`` intervals never fire), plus the periodic hold reaper and reconciliation (stock
mirror against Postgres, Stripe's events and sessions against orders), sharing one Container.

It is a ``SimpleWorker``: jobs run in this process, so the Container's pools are built
once and reused; isolation and parallelism come from running more worker processes.
If Redis goes away the worker waits and starts over instead of exiting.
"""

from __future__ import annotations

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
from rq import SimpleWorker

from checkout.ports import Services
from checkout.reaper import reap
from checkout.reconcile import reconcile
from kassa.bootstrap import Container
from workers import context
from workers.queue import QUEUE_NAME
from workers.retention import purge

log = logging.getLogger(__name__)

MAINTENANCE_INTERVAL_SECONDS = 30
"""How soon RQ restarts a dead scheduler process and cleans its registries."""

RESTART_DELAYS = (0.5, 1.0, 2.0, 5.0, 10.0)
"""Waits before starting over after consecutive exits of the worker loop (Redis errors)."""

PERIODIC_CONNECTIONS = 4
"""Postgres connections a worker needs beside its effect threads: the job's own, the
reaper's, the reconciler's and retention's."""

HEALTHY_RUN_SECONDS = 60.0
"""A worker loop that ran this long before exiting starts the backoff from the beginning."""


class KassaWorker(SimpleWorker):
    max_connection_wait_time = 5.0
    """RQ's reconnect backoff caps at 60 s by default; a short cap resumes soon after an outage."""

    def __init__(self, *args: Any, on_stop: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._on_stop = on_stop

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        self._on_stop()
        super().request_stop(signum, frame)  # type: ignore[no-untyped-call]


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
    more frequent, harmless passes."""

    def __init__(
        self, name: str, task: Callable[[], object], interval: float, stop: threading.Event
    ) -> None:
        super().__init__(name=f"kassa-{name}", daemon=True)
        self.task, self.interval, self.stop = task, interval, stop

    def run(self) -> None:
        while not self.stop.wait(self.interval):
            try:
                self.task()
            except Exception as exc:
                log.warning(f"{self.name} pass failed", extra={"error": type(exc).__name__})


def run_worker(container: Container, *, burst: bool = False, periodic: bool = True) -> int:
    context.install(container)
    settings = container.settings
    if settings.db_pool_max < settings.worker_threads + PERIODIC_CONNECTIONS:
        log.warning(
            "KASSA_DB_POOL_MAX is below KASSA_WORKER_THREADS + 4; effects will wait for connections",
            extra={"db_pool_max": settings.db_pool_max, "worker_threads": settings.worker_threads},
        )
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

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
    failures = 0
    while not stop.is_set():
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        started = time.monotonic()
        try:
            worker = KassaWorker(
                [QUEUE_NAME],
                connection=container.redis,
                maintenance_interval=MAINTENANCE_INTERVAL_SECONDS,
                on_stop=stop.set,
            )
            worker.work(
                burst=burst, with_scheduler=True, logging_level=container.settings.log_level
            )
        except redis.RedisError as exc:
            log.warning("worker lost Redis", extra={"error": type(exc).__name__})
        if burst:
            break
        if time.monotonic() - started > HEALTHY_RUN_SECONDS:
            failures = 0
        if not stop.is_set():
            signal.signal(signal.SIGTERM, on_signal)
            signal.signal(signal.SIGINT, on_signal)
            stop.wait(RESTART_DELAYS[min(failures, len(RESTART_DELAYS) - 1)])
            failures += 1
    stop.set()
    return 0

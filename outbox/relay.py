"""``kassa relay``: move due outbox rows into RQ, and re-enqueue rows Redis may have lost.

Each pass claims up to ``BATCH_SIZE`` due rows (``FOR UPDATE SKIP LOCKED``, so relays can
run side by side) and enqueues them, one RQ job per group of rows of the same kind and
shop, in one Redis pipeline *inside* the claiming transaction: if Redis refuses, the claim
rolls back and the rows stay pending. Rows enqueued long ago and still not done are
enqueued again unless Redis still holds their job. The loop wakes on ``NOTIFY outbox``
and polls every ``relay_poll_seconds`` in case a notification was missed.

Each pass first checks a marker key in Redis. If it is gone, Redis restarted without its
data (or is new): every enqueued row goes back to pending, to be enqueued in this very
pass, and the stock mirror is rebuilt from Postgres, without waiting for the stale sweep.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime

import psycopg
import redis

from checkout.reconcile import rebuild_mirrors
from kassa.bootstrap import Container
from outbox.metrics import RELAY_ERRORS, RELAY_LAG, RELAYED
from repos.outbox import OutboxListener
from workers.queue import enqueue_rows, live_rows, outbox_queue

log = logging.getLogger(__name__)

BATCH_SIZE = 500
ERROR_BACKOFF = (0.5, 1.0, 2.0, 5.0)
"""Waits after consecutive failed passes (Postgres or Redis down); short, so that a server
coming back (and a Redis that lost its jobs) is noticed within seconds."""

EPOCH_KEY = "kassa:relay-epoch"
"""Present while Redis keeps its data; its absence means the jobs it held are gone."""

MAX_LINGER_SECONDS = 0.1
"""The longest the relay holds due rows back while RQ still has jobs waiting."""

WAIT_SLICE_SECONDS = 0.5
"""The longest the loop blocks before looking at the stop event again."""


class Relay:
    def __init__(self, container: Container, *, batch_size: int = BATCH_SIZE) -> None:
        self.container = container
        self.settings = container.settings
        self.batch_size = batch_size
        self.queue = outbox_queue(container.redis)

    def run_once(self) -> int:
        """One pass: due rows, then stale ones. Returns how many rows went to Redis."""
        self._recover_lost_redis()
        return self._relay_due() + self._requeue_stale()

    def _recover_lost_redis(self) -> None:
        if self.container.redis.exists(EPOCH_KEY):
            return  # Redis kept its data
        with self.container.uow() as uow:
            requeued = uow.outbox.requeue_enqueued()
        rebuild_mirrors(self.container)
        self.container.redis.set(EPOCH_KEY, "1")  # only once recovery is complete
        RELAYED.labels("redis_lost").inc(requeued)
        log.warning("redis had no data; jobs and stock mirror restored", extra={"rows": requeued})

    def _relay_due(self) -> int:
        with self.container.uow() as uow:
            rows = uow.outbox.claim_due(self.batch_size)
            enqueue_rows(self.queue, rows, self.settings)
        now = datetime.now(UTC)
        for row in rows:
            RELAY_LAG.observe(max(0.0, (now - row.available_at).total_seconds()))
        if rows:
            RELAYED.labels("due").inc(len(rows))
            log.info("outbox rows relayed", extra={"rows": len(rows)})
        return len(rows)

    def _requeue_stale(self) -> int:
        with self.container.uow() as uow:
            stale = uow.outbox.stale_enqueued(
                self.settings.relay_requeue_after_seconds, self.batch_size
            )
            alive = live_rows(self.queue, stale)
            lost = [r for r in stale if r.id not in alive]
            enqueue_rows(self.queue, lost, self.settings)
        if lost:
            RELAYED.labels("stale").inc(len(lost))
            log.warning(
                "stale outbox rows enqueued again", extra={"outbox_ids": [r.id for r in lost]}
            )
        return len(lost)

    def run_forever(self, stop: threading.Event) -> None:
        """Until ``stop`` is set: pass, then sleep until NOTIFY or the poll interval."""
        listener: OutboxListener | None = None
        failures = 0
        log.info("relay started")
        try:
            while not stop.is_set():
                try:
                    relayed = self.run_once()
                    failures = 0
                except Exception as exc:  # an outage, mostly; nothing may kill the loop
                    RELAY_ERRORS.labels(type(exc).__name__).inc()
                    delay = ERROR_BACKOFF[min(failures, len(ERROR_BACKOFF) - 1)]
                    failures += 1
                    log.warning(
                        "relay pass failed; backing off",
                        extra={"error": type(exc).__name__, "retry_in_s": delay},
                    )
                    stop.wait(delay)
                    continue
                if relayed >= self.batch_size:
                    continue  # more may be due right now
                listener = self._wait(listener, stop)
                self._linger(stop)
        finally:
            if listener is not None:
                listener.close()
            log.info("relay stopped")

    def _linger(self, stop: threading.Event) -> None:
        """Wait ``relay_linger_seconds`` so that rows committed close together share a job;
        and while jobs are still waiting in RQ (the workers are behind, so new rows would
        only wait there too), keep waiting up to ``MAX_LINGER_SECONDS``: bigger groups cost
        the workers less per row, which is what lets them catch up."""
        step = self.settings.relay_linger_seconds
        if not step:
            return
        waited = 0.0
        try:
            while not stop.wait(step):
                waited += step
                if waited >= MAX_LINGER_SECONDS or not self.container.redis.llen(self.queue.key):
                    return
        except redis.RedisError:
            return  # the next pass meets the outage and backs off

    def _wait(
        self, listener: OutboxListener | None, stop: threading.Event
    ) -> OutboxListener | None:
        """Sleep up to one poll interval, waking early on NOTIFY; (re)connects the listener."""
        deadline = time.monotonic() + self.settings.relay_poll_seconds
        if listener is None:
            try:
                listener = OutboxListener(self.settings.database_url)
            except psycopg.Error as exc:
                log.warning("LISTEN unavailable; polling", extra={"error": type(exc).__name__})
        while not stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            if listener is None:
                stop.wait(min(left, WAIT_SLICE_SECONDS))
                continue
            try:
                if listener.wait(min(left, WAIT_SLICE_SECONDS)):
                    break
            except psycopg.Error as exc:
                log.warning("LISTEN connection lost", extra={"error": type(exc).__name__})
                listener.close()  # psycopg's close() does not raise, even on a dead connection
                listener = None
        return listener

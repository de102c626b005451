"""Retention: what Kassa keeps only for a while, deleted by the worker in small batches.

Done outbox rows, processed Stripe events and expired checkouts (no order, no active hold)
older than ``KASSA_RETENTION_DAYS`` go, ``KASSA_RETENTION_BATCH`` rows per transaction, so
no lock is held for long and a checkout running meanwhile never waits on a pass. Every
worker process runs a pass every ``KASSA_RETENTION_INTERVAL`` seconds; passes on several
workers skip each other's rows (``SKIP LOCKED``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from repos.retention import RetentionRepository
from repos.unit_of_work import UnitOfWork
from workers.metrics import RETENTION_DELETED

log = logging.getLogger(__name__)

MAX_BATCHES_PER_TABLE = 200
"""One pass stops after this many batches per table; the next pass goes on."""

Deleter = Callable[[RetentionRepository, datetime, int], int]
TABLES: dict[str, Deleter] = {
    "outbox": RetentionRepository.delete_done_outbox,
    "stripe_events": RetentionRepository.delete_processed_events,
    "checkouts": RetentionRepository.delete_expired_checkouts,
}


def purge(
    uow: Callable[[], UnitOfWork],
    now: datetime,
    *,
    keep_days: float,
    batch_size: int,
    max_batches: int = MAX_BATCHES_PER_TABLE,
) -> dict[str, int]:
    """Delete what is older than ``keep_days``, one short transaction per batch; returns
    the rows deleted per table."""
    before = now - timedelta(days=keep_days)
    deleted: dict[str, int] = {}
    for table, delete in TABLES.items():
        total = 0
        for _ in range(max_batches):
            with uow() as unit:
                n = delete(unit.retention, before, batch_size)
            total += n
            if n < batch_size:
                break
        deleted[table] = total
        if total:
            RETENTION_DELETED.labels(table).inc(total)
    if any(deleted.values()):
        log.info("retention pass deleted old rows", extra={"deleted": deleted})
    return deleted

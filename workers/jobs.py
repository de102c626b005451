"""The RQ job: perform a group of outbox rows' side effects and mark each row done.

Exactly-once comes from Postgres, not from RQ (which runs a duplicated job id twice):
every row is locked, skipped if it is already done or dead, its effect (idempotent by the
row's dedupe key) applied, and the row marked done in the transaction that held the lock.
A duplicate job waits on the lock and then finds the row done.

A group holds rows of one kind and one shop (``workers.queue.group_rows``):

* Redis-only kinds (``REDIS_ONLY_KINDS``): one transaction locks the whole group, applies
  each effect and marks the ones that succeeded done in one statement. A row whose effect
  failed is then run again alone, by the per-row path below, which counts its attempt.
* Every other kind (Stripe, SMTP): each row in its own transaction (``perform_row``), on
  the process's thread pool, at most ``worker_shop_concurrency`` rows of a shop at once
  across all the jobs the process runs (``worker_jobs``, ``workers.service``).

A row that should be tried again makes the job raise ``RetryLater`` after all the others
are finished; RQ's retry runs the group again, and the rows already done are skipped.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

import backoff

from checkout.faults import is_transient
from checkout.ports import Services
from workers import context, handlers
from workers.failures import PermanentJobError, RetryLater, error_code, is_permanent
from workers.metrics import JOB_OUTCOMES, JOB_SECONDS
from workers.queue import REDIS_ONLY_KINDS, forget_rows
from workers.retry import IN_PROCESS_FACTOR_SECONDS, IN_PROCESS_MAX_SECONDS, IN_PROCESS_TRIES

log = logging.getLogger(__name__)

Outcome = Literal["done", "skipped", "dead"]
UNKNOWN_KIND = "unknown"


def run_outbox_rows(row_ids: list[int], shop_id: str | None = None) -> dict[int, Outcome]:
    """Entry point named in every outbox job (``workers.jobs.run_outbox_rows``). ``shop_id``
    only picks the concurrency bound; each row's own shop is what its effect uses."""
    container = context.container()
    outcomes, retry = perform_group(container, row_ids, shop_id or "")
    forget_rows(container.redis, list(outcomes))
    if retry is not None:
        raise RetryLater(retry)
    return outcomes


def perform_group(
    services: Services, row_ids: Sequence[int], shop_id: str
) -> tuple[dict[int, Outcome], str | None]:
    """Run each row's effect once. Returns the outcome of each finished row, and the error
    code of a row that should be tried again (RQ runs the group again), if any."""
    outcomes, rest = _apply_redis_only(services, list(row_ids))
    retry: str | None = None
    for row_id, result in _each_row(services, rest, shop_id).items():
        if isinstance(result, RetryLater):
            retry = retry or result.code
        else:
            outcomes[row_id] = result
    return outcomes, retry


def _apply_redis_only(
    services: Services, row_ids: list[int]
) -> tuple[dict[int, Outcome], list[int]]:
    """The Redis-only rows of the group in one transaction. Returns their outcomes and the
    ids left for the per-row path: rows of other kinds, and rows whose effect failed."""
    started = time.monotonic()
    outcomes: dict[int, Outcome] = {}
    failed: list[int] = []
    try:
        with services.uow() as uow:
            rows = uow.outbox.lock_of_kinds(row_ids, sorted(REDIS_ONLY_KINDS))
            shops = {sid: uow.shops.get(sid) for sid in {r.shop_id for r in rows}}
            applied = []
            for row in rows:
                shop = shops[row.shop_id]
                if row.state in ("done", "dead"):
                    outcomes[row.id] = "skipped"
                    JOB_OUTCOMES.labels(row.kind, "skipped").inc()
                    continue
                try:
                    if shop is None:
                        raise PermanentJobError("shop_not_found")  # pragma: no cover - FK to shops
                    effect = handlers.Effect(services, uow, shop, row.dedupe_key)
                    handlers.perform(effect, row.kind, row.payload)
                except Exception:  # the per-row path runs it again and counts the attempt
                    failed.append(row.id)
                else:
                    applied.append(row)
            uow.outbox.mark_many_done([r.id for r in applied])
    except Exception as exc:  # the transaction is gone: every row goes the per-row way
        log.warning("group transaction failed", extra={"error": error_code(exc)})
        return {}, row_ids
    for row in applied:
        outcomes[row.id] = "done"
        JOB_OUTCOMES.labels(row.kind, "done").inc()
    if applied:
        JOB_SECONDS.labels(applied[0].kind).observe(time.monotonic() - started)
        log.info(
            "outbox rows done",
            extra={"outbox_ids": [r.id for r in applied], "kind": applied[0].kind},
        )
    return outcomes, [i for i in row_ids if i not in outcomes]


_pool_lock = threading.Lock()
_pool: tuple[int, ThreadPoolExecutor] | None = None
_shop_slots: dict[str, threading.BoundedSemaphore] = {}


def _pool_and_slots(
    threads: int, shop_id: str, bound: int
) -> tuple[ThreadPoolExecutor, threading.BoundedSemaphore]:
    """The process's pool for I/O-bound effects and the shop's slots, shared by every job
    the process runs; built on first use (again after a fork), under one lock, so that
    jobs starting together all get the same semaphore."""
    global _pool
    with _pool_lock:
        if _pool is None or _pool[0] != os.getpid():
            _pool = (os.getpid(), ThreadPoolExecutor(threads, thread_name_prefix="kassa-effect"))
            _shop_slots.clear()
        return _pool[1], _shop_slots.setdefault(shop_id, threading.BoundedSemaphore(bound))


def _each_row(
    services: Services, row_ids: list[int], shop_id: str
) -> dict[int, Outcome | RetryLater]:
    """``perform_row`` for each row, on the process's pool. The shop's slot is taken here,
    in the job's thread, before a row goes to the pool: so a pool thread never waits for a
    shop, and a shop at its bound holds back only its own rows (and the jobs carrying
    them), never another shop's, whichever of the process's jobs they come from."""
    if not row_ids:
        return {}
    settings = services.settings
    pool, slots = _pool_and_slots(
        settings.worker_threads, shop_id, settings.worker_shop_concurrency
    )

    def one(row_id: int) -> Outcome | RetryLater:
        try:
            return perform_row(services, row_id)
        except RetryLater as exc:
            return exc
        finally:
            slots.release()

    futures = {}
    for row_id in row_ids:
        slots.acquire()
        try:
            futures[row_id] = pool.submit(one, row_id)
        except BaseException:  # pragma: no cover - the pool refuses work only at interpreter exit
            slots.release()
            raise
    return {row_id: future.result() for row_id, future in futures.items()}


def perform_row(services: Services, row_id: int) -> Outcome:
    """Run the row's effect once. Returns the outcome, or raises ``RetryLater`` when RQ
    should schedule another attempt; a row that just became dead returns ``"dead"``."""
    started = time.monotonic()
    try:
        kind, outcome = _attempt(services, row_id)
    except Exception as exc:
        code = error_code(exc)
        try:
            kind, failed = _record_failure(services, row_id, exc)
        except Exception as unrecorded:  # Postgres is gone too: RQ retries, nothing counted
            raise RetryLater(f"{code} (unrecorded: {error_code(unrecorded)})") from None
        if failed == "retry":
            raise RetryLater(code) from None
        outcome = failed
    JOB_SECONDS.labels(kind).observe(time.monotonic() - started)
    return outcome


def _log_blip(details: Any) -> None:
    # Any: backoff's Details TypedDict leaves out the "exception" key it passes here.
    exc = details.get("exception")
    log.info(
        "transient failure; retrying in-process",
        extra={"error": error_code(exc) if exc else "unknown", "try": details.get("tries")},
    )


@backoff.on_exception(
    backoff.expo,
    Exception,
    max_tries=IN_PROCESS_TRIES,
    max_time=IN_PROCESS_MAX_SECONDS,
    giveup=lambda exc: not is_transient(exc),
    factor=IN_PROCESS_FACTOR_SECONDS,
    max_value=1.0,
    on_backoff=_log_blip,
    logger=None,
)
def _attempt(services: Services, row_id: int) -> tuple[str, Outcome]:
    with services.uow() as uow:
        row = uow.outbox.lock(row_id)
        if row is None or row.state in ("done", "dead"):
            kind = row.kind if row else UNKNOWN_KIND
            JOB_OUTCOMES.labels(kind, "skipped").inc()
            return kind, "skipped"
        shop = uow.shops.get(row.shop_id)
        if shop is None:
            raise PermanentJobError("shop_not_found")  # pragma: no cover - outbox FK to shops
        handlers.perform(
            handlers.Effect(services, uow, shop, row.dedupe_key), row.kind, row.payload
        )
        uow.outbox.mark_done(row.id)
    JOB_OUTCOMES.labels(row.kind, "done").inc()
    log.info(
        "outbox row done",
        extra={"outbox_id": row.id, "kind": row.kind, "attempt": row.attempts + 1},
    )
    return row.kind, "done"


def _record_failure(
    services: Services, row_id: int, exc: Exception
) -> tuple[str, Literal["retry", "dead", "skipped"]]:
    """Count the attempt in its own transaction (the effect's was rolled back) and decide:
    dead when the error is permanent or this was the last attempt, else retry."""
    code = error_code(exc)
    with services.uow() as uow:
        row = uow.outbox.lock(row_id)
        if row is None or row.state in ("done", "dead"):
            # Only if a duplicate job took the row between our rollback and this lock (while
            # the effect ran, our lock kept it waiting): a race of microseconds.
            return (row.kind if row else UNKNOWN_KIND), "skipped"  # pragma: no cover - race
        attempt = row.attempts + 1
        dead = is_permanent(exc) or attempt >= services.settings.job_max_attempts
        uow.outbox.record_failure(row_id, code, dead=dead)
    outcome: Literal["retry", "dead"] = "dead" if dead else "retry"
    JOB_OUTCOMES.labels(row.kind, outcome).inc()
    log.warning(
        "outbox row failed",
        extra={
            "outbox_id": row_id,
            "kind": row.kind,
            "error": code,
            "attempt": attempt,
            "outcome": outcome,
        },
    )
    return row.kind, outcome

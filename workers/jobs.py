"""The RQ job: perform one outbox row's side effect and mark the row done.

Exactly-once comes from Postgres, not from RQ (which runs a duplicated job id twice):
the job locks its row, returns at once if the row is already done or dead, runs the
handler (idempotent by the row's dedupe key), and marks the row done in the same
transaction. A duplicate job waits on the lock and then finds the row done.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Literal

import backoff

from checkout.faults import is_transient
from checkout.ports import Services
from workers import context, handlers
from workers.failures import PermanentJobError, RetryLater, error_code, is_permanent
from workers.metrics import JOB_OUTCOMES, JOB_SECONDS
from workers.retry import IN_PROCESS_FACTOR_SECONDS, IN_PROCESS_MAX_SECONDS, IN_PROCESS_TRIES

log = logging.getLogger(__name__)

Outcome = Literal["done", "skipped", "dead"]
UNKNOWN_KIND = "unknown"


def run_outbox_row(row_id: int) -> str:
    """Entry point named in every outbox job (``workers.jobs.run_outbox_row``)."""
    return perform_row(context.container(), row_id)


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
            raise PermanentJobError("shop_not_found")
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
            return (row.kind if row else UNKNOWN_KIND), "skipped"
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

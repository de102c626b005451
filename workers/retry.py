"""When a failed outbox job runs again: short in-process retries for blips, then RQ's
``Retry`` with exponentially growing, jittered intervals, all derived from settings."""

from __future__ import annotations

import math
import random

from rq import Retry

from schemas.settings import Settings

IN_PROCESS_TRIES = 3
"""Tries inside one job run for a transient error (a dropped connection, a 429)."""

IN_PROCESS_MAX_SECONDS = 5.0
"""In-process retries give up after this long, so RQ's schedule takes over quickly."""

IN_PROCESS_FACTOR_SECONDS = 0.1
"""The first in-process backoff step; it doubles, with full jitter, up to one second."""

JITTER = 0.25
"""Each RQ retry interval grows by a random 0-25 %, so a burst of failures spreads out."""

MAX_RETRY_INTERVAL_SECONDS = 3600


def retry_intervals(
    base_seconds: float, max_attempts: int, rng: random.Random | None = None
) -> list[int]:
    """Seconds to wait before retries 1 .. max_attempts-1: ``base * 2**i`` plus jitter,
    rounded up to whole seconds (RQ takes integers; never 0, which would skip the
    scheduler and retry at once) and capped at an hour."""
    rng = rng or random.Random()
    intervals = []
    for i in range(max(0, max_attempts - 1)):
        delay = base_seconds * 2**i * (1 + rng.uniform(0, JITTER))
        intervals.append(max(1, min(MAX_RETRY_INTERVAL_SECONDS, math.ceil(delay))))
    return intervals


def retry_for(settings: Settings, rng: random.Random | None = None) -> Retry | None:
    """RQ's retry policy for one outbox job: ``job_max_attempts`` runs in all."""
    if settings.job_max_attempts <= 1:
        return None
    return Retry(
        max=settings.job_max_attempts - 1,
        interval=retry_intervals(settings.job_retry_base_seconds, settings.job_max_attempts, rng),
    )

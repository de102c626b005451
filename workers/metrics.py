"""Prometheus metrics of the worker process: what happened to each outbox job, what
retention deleted, and how its periodic passes (reaper, reconciler, retention) ended."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

JOB_OUTCOMES = Counter(
    "kassa_outbox_jobs_total",
    "Outbox jobs by kind and outcome (done, retry, dead, skipped)",
    ["kind", "outcome"],
)
JOB_SECONDS = Histogram(
    "kassa_outbox_job_seconds",
    "Time to perform one outbox job",
    ["kind"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
RETENTION_DELETED = Counter(
    "kassa_retention_deleted_total",
    "Rows deleted by retention (done outbox rows, processed Stripe events, expired checkouts)",
    ["table"],
)
PERIODIC_PASSES = Counter(
    "kassa_periodic_passes_total",
    "Passes of the worker's periodic tasks (reaper, reconciler, retention) by outcome (ok, failed)",
    ["task", "outcome"],
)

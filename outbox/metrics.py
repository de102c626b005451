"""Prometheus metrics of the relay: how deep the outbox is and how late rows leave it."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

OUTBOX_DEPTH = Gauge(
    "kassa_outbox_rows", "Outbox rows by state (refreshed by the relay)", ["state"]
)
RELAY_LAG = Histogram(
    "kassa_outbox_relay_lag_seconds",
    "Seconds from a row becoming due to the relay claiming it",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
)
RELAYED = Counter(
    "kassa_outbox_relayed_total",
    "Jobs handed to Redis, by reason (due: first time; stale: re-enqueued after a timeout)",
    ["reason"],
)
RELAY_ERRORS = Counter(
    "kassa_outbox_relay_errors_total", "Relay passes that failed, by error class", ["error"]
)

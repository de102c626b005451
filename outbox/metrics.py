"""Prometheus metrics of the outbox: how deep it is and how late rows leave it.

The depth gauges are read from Postgres when Prometheus scrapes (``OutboxCollector``, one
query), not kept up to date by a loop: the web's ``/metrics`` and the relay's carry them, so
they are there as long as either runs and they are never older than the scrape.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from repos.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

STATES = ("pending", "enqueued", "done", "dead")

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


class OutboxCollector(Collector):
    """``kassa_outbox_rows{state}``, ``kassa_outbox_dead_rows`` and
    ``kassa_outbox_oldest_pending_age_seconds``, computed at scrape time; when Postgres does
    not answer, only ``kassa_outbox_stats_up 0``."""

    NAMES = (
        "kassa_outbox_stats_up",
        "kassa_outbox_rows",
        "kassa_outbox_dead_rows",
        "kassa_outbox_oldest_pending_age_seconds",
    )

    def __init__(self, uow: Callable[[], UnitOfWork]) -> None:
        self.uow = uow

    def describe(self) -> Iterator[GaugeMetricFamily]:
        """The names, without a query (registering must not touch Postgres)."""
        for name in self.NAMES:
            yield GaugeMetricFamily(name, "")

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            with self.uow() as uow:
                rows, oldest = uow.outbox.stats()
        except Exception as exc:
            log.warning("outbox metrics unavailable", extra={"error": type(exc).__name__})
            yield GaugeMetricFamily(
                "kassa_outbox_stats_up", "1 when the outbox gauges could be read", value=0
            )
            return
        yield GaugeMetricFamily(
            "kassa_outbox_stats_up", "1 when the outbox gauges could be read", value=1
        )
        by_state = GaugeMetricFamily(
            "kassa_outbox_rows", "Outbox rows by state, read at scrape time", labels=["state"]
        )
        for state in STATES:
            by_state.add_metric([state], rows.get(state, 0))
        yield by_state
        yield GaugeMetricFamily(
            "kassa_outbox_dead_rows",
            "Outbox rows whose side effect gave up (see `kassa dlq list`)",
            value=rows.get("dead", 0),
        )
        yield GaugeMetricFamily(
            "kassa_outbox_oldest_pending_age_seconds",
            "Seconds the oldest due pending row has waited for the relay (0: none waits)",
            value=oldest,
        )

"""Prometheus metrics of the web tier: request counts and latency by endpoint (never by URL),
and the gauges it reads for ops at scrape time."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from repos.reconcile_log import ReconcileLog

REQUESTS = Counter("kassa_http_requests_total", "HTTP requests", ["method", "endpoint", "status"])
LATENCY = Histogram(
    "kassa_http_request_seconds",
    "HTTP request latency",
    ["method", "endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2, 5),
)
WEBHOOKS = Counter(
    "kassa_webhooks_total", "Stripe webhooks by event type and result", ["type", "result"]
)


class ReconcileCollector(Collector):
    """What the last ``kassa reconcile`` found (read from Redis at scrape time)."""

    NAMES = ("kassa_reconcile_findings", "kassa_reconcile_last_run_timestamp_seconds")

    def __init__(self, runs: ReconcileLog) -> None:
        self.runs = runs

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            last = self.runs.last()
        except Exception:  # Redis down: /readyz says so; the scrape still answers
            return
        if last is None:
            return
        at, findings = last
        yield GaugeMetricFamily(
            "kassa_reconcile_last_run_timestamp_seconds",
            "When `kassa reconcile` last ran (Unix time)",
            value=at,
        )
        family = GaugeMetricFamily(
            "kassa_reconcile_findings",
            "What the last `kassa reconcile` found: drifted SKUs, paid sessions without an order",
            labels=["kind"],
        )
        for kind, count in sorted(findings.items()):
            family.add_metric([kind], count)
        yield family

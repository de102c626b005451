"""Prometheus metrics of the web tier: request counts and latency by endpoint (never by URL)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

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

"""What the last ``kassa reconcile`` found, kept in Redis so that the web's ``/metrics`` can
show it (reconcile runs as a short-lived command, from cron or a CronJob, which Prometheus
cannot scrape)."""

from __future__ import annotations

import json
import time

import redis

KEY = "kassa:reconcile:last"


class ReconcileLog:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    def record(self, findings: dict[str, int], at: float | None = None) -> None:
        self.redis.set(KEY, json.dumps({"at": at or time.time(), "findings": findings}))

    def last(self) -> tuple[float, dict[str, int]] | None:
        raw = self.redis.get(KEY)
        if raw is None:
            return None
        data = json.loads(raw)
        return float(data["at"]), {str(k): int(v) for k, v in data["findings"].items()}

"""Webhook delivery: a background thread that POSTs signed events, at least once.

Each matching endpoint gets its own delivery, retried on a non-2xx answer or a
timeout after growing delays (Stripe's days of retries, compressed to seconds).
Test modes duplicate, shuffle or delay deliveries to exercise receivers'
idempotency. The dispatcher never holds its own lock while asking the state for a
payload or while sending, so slow receivers block neither the API nor each other's
bookkeeping.
"""

from __future__ import annotations

import heapq
import http.client
import itertools
import logging
import os
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol
from urllib.parse import urlsplit

from stripe_emulator import defaults
from stripe_emulator.signing import signature_header

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeliveryPolicy:
    retry_delays: tuple[float, ...]
    max_attempts: int
    timeout: float

    @classmethod
    def build(
        cls,
        retry_delays: Sequence[float] | None = None,
        max_attempts: int | None = None,
        timeout: float = defaults.WEBHOOK_TIMEOUT_SECONDS,
        env: Mapping[str, str] = os.environ,
    ) -> DeliveryPolicy:
        """Explicit arguments win, then the environment, then the defaults."""
        if retry_delays is None:
            raw = env.get(defaults.ENV_WEBHOOK_RETRY_DELAYS)
            retry_delays = (
                tuple(float(part) for part in raw.split(",") if part.strip())
                if raw
                else defaults.WEBHOOK_RETRY_DELAYS
            )
        if max_attempts is None:
            raw_attempts = env.get(defaults.ENV_WEBHOOK_MAX_ATTEMPTS)
            max_attempts = int(raw_attempts) if raw_attempts else len(retry_delays) + 1
        if max_attempts < 1 or timeout <= 0 or any(delay < 0 for delay in retry_delays):
            raise ValueError("webhook delivery needs max_attempts >= 1, timeout > 0, delays >= 0")
        return cls(tuple(retry_delays), max_attempts, timeout)

    def delay_after(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        if not self.retry_delays:
            return 0.0
        return self.retry_delays[min(attempt, len(self.retry_delays)) - 1]


@dataclass(frozen=True)
class DeliveryMode:
    duplicate: int = 1
    shuffle: bool = False
    delay_ms: tuple[int, int] = (0, 0)

    def as_json(self) -> dict[str, Any]:
        return {
            "duplicate": self.duplicate,
            "shuffle": self.shuffle,
            "delay_ms": list(self.delay_ms),
        }


@dataclass(frozen=True)
class Delivery:
    account: str
    event_id: str
    event_type: str
    endpoint_id: str
    url: str
    attempt: int = 1
    generation: int = 0


class DeliverySource(Protocol):
    """What the dispatcher needs from the emulator state, under the state's own lock."""

    def delivery_payload(self, delivery: Delivery) -> tuple[bytes, str, str] | None:
        """The event body, the endpoint's secret and URL; None if either is gone."""
        ...

    def delivery_settled(self, delivery: Delivery) -> None:
        """The delivery succeeded or ran out of attempts: it no longer counts as pending."""
        ...


class WebhookDispatcher:
    def __init__(self, policy: DeliveryPolicy) -> None:
        self.policy = policy
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Delivery]] = []
        self._sequence = itertools.count()
        self._mode = DeliveryMode()
        self._generation = 0
        self._inflight = 0
        self._stats: Counter[str] = Counter()
        self._log: deque[dict[str, Any]] = deque(maxlen=defaults.DELIVERY_LOG_SIZE)
        self._random = random.Random()
        self._source: DeliverySource | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False

    def attach(self, source: DeliverySource) -> None:
        self._source = source

    def start(self) -> None:
        with self._cond:
            self._stopping = False
        self._thread = threading.Thread(target=self._run, name="stripe-emulator-webhooks")
        self._thread.daemon = True
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=self.policy.timeout + 5)
            self._thread = None

    @property
    def mode(self) -> DeliveryMode:
        with self._cond:
            return self._mode

    def set_mode(self, mode: DeliveryMode) -> None:
        with self._cond:
            self._mode = mode

    def submit(self, deliveries: list[Delivery]) -> Counter[str]:
        """Queue one batch (duplicated and shuffled per mode); count jobs per event id."""
        with self._cond:
            mode = self._mode
            jobs = [
                replace(delivery, generation=self._generation)
                for delivery in deliveries
                for _ in range(mode.duplicate)
            ]
            if mode.shuffle:
                self._random.shuffle(jobs)
            now = time.monotonic()
            for job in jobs:
                self._push(job, now + self._jitter(mode))
            self._cond.notify_all()
        return Counter(job.event_id for job in jobs)

    def reset(self) -> None:
        with self._cond:
            self._generation += 1
            self._heap.clear()
            self._stats.clear()
            self._log.clear()
            self._mode = DeliveryMode()

    def stats(self) -> dict[str, int]:
        with self._cond:
            return {
                "delivered": self._stats["delivered"],
                "attempts": self._stats["attempts"],
                "failed_attempts": self._stats["failed_attempts"],
                "pending": len(self._heap) + self._inflight,
            }

    def deliveries(self) -> list[dict[str, Any]]:
        with self._cond:
            return list(self._log)

    def _push(self, job: Delivery, due: float) -> None:
        heapq.heappush(self._heap, (due, next(self._sequence), job))

    def _jitter(self, mode: DeliveryMode) -> float:
        low, high = mode.delay_ms
        return self._random.uniform(low, high) / 1000 if high > 0 else 0.0

    def _run(self) -> None:
        while True:
            with self._cond:
                job = self._next_due()
                if job is None:
                    return
                self._inflight += 1
            try:
                self._attempt(job)
            except Exception:
                logger.exception("webhook delivery of event %s crashed", job.event_id)
            finally:
                with self._cond:
                    self._inflight -= 1

    def _next_due(self) -> Delivery | None:
        """Wait (holding the condition) for the next due job; None once stopping."""
        while not self._stopping:
            if not self._heap:
                self._cond.wait()
                continue
            wait = self._heap[0][0] - time.monotonic()
            if wait <= 0:
                return heapq.heappop(self._heap)[2]
            self._cond.wait(wait)
        return None

    def _attempt(self, job: Delivery) -> None:
        assert self._source is not None
        payload = self._source.delivery_payload(job)
        if payload is None:
            self._source.delivery_settled(job)
            return
        body, secret, url = payload
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": defaults.WEBHOOK_USER_AGENT,
            "Accept": "*/*; q=0.5, application/xml",
            "Cache-Control": "no-cache",
            # Real time, not the emulator clock: receivers check a 300 s tolerance.
            "Stripe-Signature": signature_header(secret, body, int(time.time())),
        }
        status, error = post(url, body, headers, self.policy.timeout)
        ok = status is not None and 200 <= status < 300
        logger.info(
            "webhook event=%s type=%s endpoint=%s attempt=%d status=%s error=%s",
            job.event_id, job.event_type, job.endpoint_id, job.attempt, status, error,
        )  # fmt: skip
        with self._cond:
            if job.generation != self._generation:
                return
            self._stats["attempts"] += 1
            self._stats["delivered" if ok else "failed_attempts"] += 1
            self._log.append(
                {
                    "event_id": job.event_id,
                    "type": job.event_type,
                    "endpoint_id": job.endpoint_id,
                    "url": url,
                    "status": status,
                    "error": error,
                    "attempt": job.attempt,
                }
            )
            retry = not ok and job.attempt < self.policy.max_attempts and not self._stopping
            if retry:
                due = time.monotonic() + self.policy.delay_after(job.attempt)
                self._push(replace(job, attempt=job.attempt + 1), due + self._jitter(self._mode))
                self._cond.notify_all()
        if not retry:
            self._source.delivery_settled(job)


def post(
    url: str, body: bytes, headers: Mapping[str, str], timeout: float
) -> tuple[int | None, str | None]:
    """POST without following redirects (Stripe counts a 3xx as a failure)."""
    parts = urlsplit(url)
    connection_class = (
        http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    )
    connection = connection_class(parts.hostname or "localhost", parts.port, timeout=timeout)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request("POST", target, body=body, headers=dict(headers))
        response = connection.getresponse()
        response.read()
        return response.status, None
    except TimeoutError:
        return None, "timeout"
    except (OSError, http.client.HTTPException) as exc:
        return None, type(exc).__name__
    finally:
        connection.close()

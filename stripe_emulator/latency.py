"""Realistic Stripe latency: a fixed or jittered delay added to every /v1 call.

Real Stripe answers in hundreds of milliseconds; a fake that answers in three hides
what that does to a caller (workers held, queues growing). The delay is spent in the
request's own thread and outside the state lock, so concurrent calls wait side by side
instead of one after another.
"""

from __future__ import annotations

import random
import re
import threading

from stripe_emulator import defaults

_SPEC = re.compile(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?")


def parse_range(spec: str) -> tuple[int, int]:
    """`"250"` -> (250, 250); `"200-300"` -> (200, 300); `""` -> no delay."""
    if not spec.strip():
        return (0, 0)
    match = _SPEC.fullmatch(spec)
    try:
        if match is None:
            raise ValueError("not a number of milliseconds or a range")
        bounds = (int(match.group(1)), int(match.group(2) or match.group(1)))
        check_range(*bounds)
    except ValueError as exc:
        raise ValueError(
            f"{defaults.ENV_LATENCY_MS} must be milliseconds, like 250 or 200-300; "
            f"got {spec!r} ({exc})"
        ) from None
    return bounds


def check_range(low: int, high: int) -> None:
    if not 0 <= low <= high <= defaults.LATENCY_MAX_MS:
        raise ValueError(
            f"latency must satisfy 0 <= min_ms <= max_ms <= {defaults.LATENCY_MAX_MS}; "
            f"got {low}-{high}"
        )


class Latency:
    """The current delay range; how many calls were delayed, and how many wait right now."""

    def __init__(self, configured: tuple[int, int] = (0, 0)) -> None:
        check_range(*configured)
        self._configured = configured
        self._range = configured
        self._waiting = 0
        self._delayed = 0
        self._lock = threading.Lock()

    def set(self, low: int, high: int) -> None:
        check_range(low, high)
        with self._lock:
            self._range = (low, high)

    def reset(self) -> None:
        """Back to what the server was started with (constructor or environment)."""
        with self._lock:
            self._range = self._configured
            self._delayed = 0

    def as_json(self) -> dict[str, int]:
        with self._lock:
            low, high = self._range
            return {
                "min_ms": low,
                "max_ms": high,
                "delayed": self._delayed,
                "waiting": self._waiting,
            }

    def wait(self, stopping: threading.Event) -> None:
        """Sleep for one call's delay; `stopping` cuts it short on shutdown."""
        with self._lock:
            low, high = self._range
            if high == 0:
                return
            self._waiting += 1
            self._delayed += 1
        try:
            stopping.wait(random.uniform(low, high) / 1000)
        finally:
            with self._lock:
                self._waiting -= 1

"""Injected faults: the next N matching requests fail, hang or run slowly.

Faults are taken before authentication and idempotency, so a failed attempt stores
nothing and a client retry with the same key proceeds normally.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class Fault:
    method: str
    path_prefix: str
    count: int
    # Exactly one of these three is set.
    status: int | None = None
    hang_seconds: float | None = None
    # Held after the idempotency key is claimed: a retry meanwhile gets 409.
    slow_seconds: float | None = None

    def matches(self, method: str, path: str) -> bool:
        return self.method in ("*", method.upper()) and path.startswith(self.path_prefix)

    def as_json(self) -> dict[str, Any]:
        return {key: value for key, value in asdict(self).items() if value is not None}


class FaultBook:
    """Not thread-safe itself: callers hold the state lock."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        self._faults.append(fault)

    def take(self, method: str, path: str) -> Fault | None:
        for fault in self._faults:
            if fault.matches(method, path):
                fault.count -= 1
                if fault.count <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    def pending(self) -> list[dict[str, Any]]:
        return [fault.as_json() for fault in self._faults]

    def clear(self) -> None:
        self._faults.clear()

"""The emulator's notion of now: wall-clock time plus an offset that tests can advance.

Only object timestamps, expiry and idempotency-key age follow this clock; webhook
signatures use real time because receivers check them against their own clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class Clock:
    def __init__(self, wall: Callable[[], float] = time.time) -> None:
        self._wall = wall
        self._offset = 0

    def now(self) -> int:
        return int(self._wall()) + self._offset

    def advance(self, seconds: int) -> int:
        self._offset += seconds
        return self.now()

    def reset(self) -> None:
        self._offset = 0

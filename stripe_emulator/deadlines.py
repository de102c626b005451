"""Due times in a heap: applying the passage of time costs O(log n) per object that falls
due, and nothing for the objects that don't.

Every API call first applies the passage of time (sessions expire, holds lapse, old
idempotency keys are forgotten). Scanning every object for that made each call slower
as an account held more sessions; with a heap a call only peeks at the earliest due time.
An entry is a reminder, not a promise: the object may have changed since (a session paid
or expired by hand), so whoever pops it checks the object again before acting.
"""

from __future__ import annotations

import heapq
import itertools
from typing import Generic, TypeVar

T = TypeVar("T")


class DueQueue(Generic[T]):
    """Not thread-safe itself: callers hold the state lock."""

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, T]] = []
        self._order = itertools.count()
        # Entries ever popped: what sweeping has cost; tests read it to prove no full scans.
        self.visits = 0

    def push(self, due: int, item: T) -> None:
        heapq.heappush(self._heap, (due, next(self._order), item))

    def pop_due(self, now: int) -> list[T]:
        """Remove and return, earliest first, every item due at or before `now`."""
        due: list[T] = []
        while self._heap and self._heap[0][0] <= now:
            due.append(heapq.heappop(self._heap)[2])
        self.visits += len(due)
        return due

    def clear(self) -> None:
        self._heap.clear()

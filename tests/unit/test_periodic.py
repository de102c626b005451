"""The worker's periodic passes (reaper, reconciler, retention): a failed pass is counted
for the alert and does not end the task."""

from __future__ import annotations

import threading

from prometheus_client import REGISTRY

from workers.service import Periodic


def passes(task: str, outcome: str) -> float:
    value = REGISTRY.get_sample_value(
        "kassa_periodic_passes_total", {"task": task, "outcome": outcome}
    )
    return value or 0.0


def test_a_failed_pass_is_counted_and_the_next_pass_runs() -> None:
    stop = threading.Event()
    calls: list[int] = []

    def task() -> None:
        calls.append(1)
        if len(calls) == 3:
            stop.set()
        if len(calls) == 1:
            raise RuntimeError("the first pass fails")

    periodic = Periodic("test-task", task, 0.001, stop)
    periodic.start()
    periodic.join(timeout=30)
    assert not periodic.is_alive()
    assert len(calls) == 3
    assert passes("test-task", "failed") == 1
    assert passes("test-task", "ok") == 2

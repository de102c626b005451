"""Small chaos runs (issue 9): real stack, concurrent customers through the HTTP API, random
payment outcomes and faults, a settle period in which nothing is repaired by hand, then
every money invariant (see ``bench/chaos_harness.py``). Each scenario is one seeded run;
a failure prints the run's figures and the precise list of violations, and the same
seed replays the same plan (``bench/chaos.py --seed N`` runs it at any size).

``KASSA_CHAOS_SETTLE_SECONDS`` overrides how long a run may take to heal."""

from __future__ import annotations

import os

import pytest
from chaos_harness import FAULT_KINDS, ChaosConfig, Report, run

SETTLE = float(os.environ.get("KASSA_CHAOS_SETTLE_SECONDS", "60"))


def chaos(**config: object) -> Report:
    report = run(ChaosConfig(settle_seconds=SETTLE, concurrency=6, **config))  # type: ignore[arg-type]
    print(report.summary())
    return report


def assert_holds(report: Report) -> None:
    assert not report.violations, report.summary()
    assert report.results.get("paid", 0) > 0, "no customer got as far as paying"


def test_customers_under_crashes_outages_and_hostile_webhooks() -> None:
    """Every outcome but a payment outliving its hold; every fault but a Redis restart."""
    report = chaos(
        customers=30,
        seed=11,
        outcomes=("paid", "declined", "async_succeeded", "async_failed", "abandoned", "cancelled"),
        faults=tuple(f for f in FAULT_KINDS if f != "redis_restart"),
    )
    assert_holds(report)
    assert set(report.faults) == set(FAULT_KINDS) - {"redis_restart"}


@pytest.mark.xfail(
    strict=False,
    reason="issue 9: a payment that settles after its hold lapsed gets neither an order nor"
    " a refund (UNIQUE (checkout_id, location) on inventory_holds; 500 on every delivery)",
)
def test_payments_that_settle_after_their_hold_lapsed() -> None:
    """Slow payments that settle after the reaper gave their stock back, with stock scarce:
    each ends in one order (stock still there) or one stock_conflict refund."""
    report = chaos(
        customers=14,
        seed=12,
        outcomes=("paid", "lapsed_paid"),
        faults=("webhook_mode",),
    )
    assert_holds(report)
    assert report.results.get("lapsed_paid", 0) > 0


@pytest.mark.xfail(
    strict=False,
    reason="issue 9: after a Redis restart the jobs it lost wait for the 120 s stale sweep and"
    " the stock mirror goes negative until `kassa reconcile` is run by hand",
)
def test_redis_restart_with_data_loss() -> None:
    report = chaos(
        customers=14,
        seed=13,
        outcomes=("paid", "async_succeeded", "abandoned"),
        faults=("redis_restart",),
        fault_count=1,
    )
    assert_holds(report)
    assert report.faults.get("redis_restart") == 1

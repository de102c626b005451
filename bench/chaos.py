"""Chaos run against a throwaway Kassa stack (issue 9): concurrent customers with random
outcomes, random faults, a settle period without faults, then the money invariants.

    .venv/bin/python bench/chaos.py --customers 1000 --seed 7

The harness lives in ``bench/chaos_harness.py`` (shared with ``tests/chaos/``); its
docstring lists the invariants. Exits 1 and lists every violation if one fails; the
same seed plans the same customers and faults again.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Container

from chaos_harness import FAULT_KINDS, OUTCOMES, SHOPS, ChaosConfig, run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=16, help="customers at a time")
    parser.add_argument(
        "--faults", default=",".join(FAULT_KINDS), help="fault kinds, comma-separated ('' for none)"
    )
    parser.add_argument(
        "--fault-count", type=int, default=None, help="default: kinds + 1 per 25 customers"
    )
    parser.add_argument("--outcomes", default=",".join(OUTCOMES), help="outcomes, comma-separated")
    parser.add_argument("--shops", default=",".join(SHOPS), help="shops, comma-separated")
    parser.add_argument(
        "--stock-per-customer", type=float, default=2.5, help="units in stock per customer"
    )
    parser.add_argument(
        "--settle-seconds", type=float, default=300.0, help="how long the stack may take to heal"
    )
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, data)")
    args = parser.parse_args()

    def names(value: str, allowed: Container[str]) -> tuple[str, ...]:
        chosen = tuple(n for n in value.split(",") if n)
        unknown = [n for n in chosen if n not in allowed]
        if unknown:
            parser.error(f"unknown: {', '.join(unknown)}")
        return chosen

    config = ChaosConfig(
        customers=args.customers,
        seed=args.seed,
        concurrency=args.concurrency,
        faults=names(args.faults, FAULT_KINDS),
        fault_count=args.fault_count,
        outcomes=names(args.outcomes, OUTCOMES),
        shops=names(args.shops, SHOPS),
        stock_per_customer=args.stock_per_customer,
        settle_seconds=args.settle_seconds,
        web_workers=args.web_workers,
        keep=args.keep,
        log=lambda line: print(line, flush=True),
    )
    report = run(config)
    print(report.summary(), flush=True)
    return 1 if report.violations else 0


if __name__ == "__main__":
    sys.exit(main())

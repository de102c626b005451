"""Benchmark the bulk catalog import: 10,000 SKUs in one command, then buy one of them.

    .venv/bin/python bench/catalog_import.py [--skus 10000] [--keep]

On a throwaway stack (bench/stack.py): writes a JSON and a CSV catalog of N SKUs (each
with stock in two locations, plus shipping options and coupons), and times

* ``kassa catalog import catalog.json --shop demo``: the first import (everything new),
* the same command again (nothing changes: the upsert is idempotent),
* the CSV file with every price and stock level changed (all rows updated),
* ``POST /admin/catalog/import`` with the JSON file and a merchant API key,

each as wall time of the whole command (process start included) and as the time the
command itself reports. Then a checkout buys one of the new SKUs through the web
process at once. Exits non-zero if any step fails.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests
from stack import REPO, SHOP, Stack, open_stack


def catalog(n: int, price_offset: int = 0) -> dict[str, Any]:
    return {
        "products": [
            {
                "sku": f"SKU-{i:06d}",
                "product_code": f"P-{i // 5:06d}",
                "name": f"Catalog item {i}",
                "attributes": {"size": "SMLXX"[i % 5], "colour": ["red", "blue"][i % 2]},
                "unit_amount": 500 + i % 9000 + price_offset,
                "stock": [
                    {"location": "warehouse", "on_hand": 20 + i % 50 + price_offset, "priority": 1},
                    {"location": "store", "on_hand": i % 4, "priority": 2},
                ],
            }
            for i in range(n)
        ],
        "shipping_options": [{"id": "bulk-courier", "name": "Courier", "amount": 700}],
        "coupons": [{"code": "BULK10", "percent_off": 10}],
    }


def write_csv(path: Path, doc: dict[str, Any]) -> None:
    columns = ["type", "sku", "product_code", "name", "unit_amount", "attr.size",
               "attr.colour", "stock.warehouse", "stock.store", "id", "amount", "code",
               "percent_off"]  # fmt: skip
    with path.open("w", newline="") as f:
        out = csv.DictWriter(f, columns)
        out.writeheader()
        for p in doc["products"]:
            stock = {f"stock.{s['location']}": s["on_hand"] for s in p["stock"]}
            attrs = {f"attr.{k}": v for k, v in p["attributes"].items()}
            out.writerow({"type": "product", "sku": p["sku"], "product_code": p["product_code"],
                          "name": p["name"], "unit_amount": p["unit_amount"], **attrs, **stock})  # fmt: skip
        for o in doc["shipping_options"]:
            out.writerow({"type": "shipping_option", "id": o["id"], "name": o["name"], "amount": o["amount"]})  # fmt: skip
        for c in doc["coupons"]:
            out.writerow({"type": "coupon", "code": c["code"], "percent_off": c["percent_off"]})


def run_import(stack: Stack, path: Path) -> tuple[float, float, str]:
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "ops.cli", "catalog", "import", str(path), "--shop", SHOP],
        cwd=REPO,
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"import failed: {result.stderr[-2000:]}")
    found = re.search(r"in ([\d.]+) s", result.stdout)
    if found is None:
        raise SystemExit(f"no timing in the import's output: {result.stdout[-2000:]}")
    reported = float(found.group(1))
    return wall, reported, result.stdout.strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--skus", type=int, default=10_000)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    with open_stack(keep=args.keep) as stack:
        assert stack.workdir is not None
        first, changed = catalog(args.skus), catalog(args.skus, price_offset=1)
        json_path, csv_path = stack.workdir / "catalog.json", stack.workdir / "catalog.csv"
        json_path.write_text(json.dumps(first))
        write_csv(csv_path, changed)
        print(f"{args.skus} SKUs: JSON {json_path.stat().st_size / 1e6:.1f} MB,"
              f" CSV {csv_path.stat().st_size / 1e6:.1f} MB")  # fmt: skip
        for label, path in (
            ("JSON, first import", json_path),
            ("JSON, same file again", json_path),
            ("CSV, every price and level changed", csv_path),
        ):
            wall, reported, out = run_import(stack, path)
            print(f"  {label:<36} command {wall:5.2f} s  (import itself {reported:5.2f} s)  {out}")

        key = subprocess.run(
            [sys.executable, "-m", "ops.cli", "apikey", "create", "--shop", SHOP, "--name", "bench"],
            cwd=REPO, env=stack.env, capture_output=True, text=True, check=True, timeout=60,
        ).stdout.strip().splitlines()[-1]  # fmt: skip
        started = time.perf_counter()
        resp = requests.post(
            f"{stack.url}/admin/catalog/import",
            data=json_path.read_bytes(),
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
            timeout=600,
        )
        api = time.perf_counter() - started
        if resp.status_code != 200:
            raise SystemExit(f"API import failed: {resp.status_code} {resp.text[:500]}")
        print(f"  {'API, JSON (prices back)':<36} request {api:5.2f} s  {resp.json()}")

        buyer = requests.Session()
        buyer.headers["X-Shop-Id"] = SHOP
        sku = f"SKU-{args.skus - 1:06d}"
        started = time.perf_counter()
        added = buyer.post(
            f"{stack.url}/api/cart/items", json={"sku": sku, "quantity": 2}, timeout=30
        )
        made = buyer.post(
            f"{stack.url}/api/checkout",
            json={"shipping_option_id": "bulk-courier", "coupon": "BULK10"},
            timeout=30,
        )
        if added.status_code not in {200, 201} or made.status_code != 201:
            raise SystemExit(
                f"checkout failed: {added.status_code} {made.status_code} {made.text[:300]}"
            )
        print(f"  checkout of {sku} right after: {made.status_code}, amount_total"
              f" {made.json()['amount_total']} in {time.perf_counter() - started:.2f} s")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())

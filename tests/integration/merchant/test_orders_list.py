"""The merchant's order list: the creation-time filters, and the queries that back it use
the (shop, created_at, id) indexes for every filter and page, as the docs promise, in
custom and in generic (prepared) plans alike."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from itertools import product
from typing import Any

import psycopg
from integration.merchant.plan_support import PLAN_MODES, plans
from support import db

from kassa.bootstrap import Container

Headers = dict[str, str]


def test_created_between_filters_half_open(
    client: Any,
    key_for: Callable[..., Headers],
    bought: Callable[..., dict[str, Any]],
    container: Container,
) -> None:
    refs = [bought(key=f"t{i}", quantity=1)["reference"] for i in range(3)]
    with psycopg.connect(container.settings.database_url) as conn:
        for day, ref in zip((1, 2, 3), refs, strict=True):
            conn.execute(
                "UPDATE orders SET created_at = %s WHERE reference = %s",
                (datetime(2026, 11, day, 12, tzinfo=UTC), ref),
            )
    headers = key_for("demo")

    def listed(query: str) -> list[str]:
        resp = client.get(f"/admin/orders?{query}", headers=headers)
        assert resp.status_code == 200, resp.get_json()
        return [o["reference"] for o in resp.get_json()["orders"]]

    assert listed("created_from=2026-11-02T12:00:00Z") == [refs[2], refs[1]]  # inclusive
    assert listed("created_to=2026-11-02T12:00:00Z") == [refs[0]]  # exclusive
    assert listed("created_from=2026-11-02T00:00:00Z&created_to=2026-11-03T00:00:00Z") == [refs[1]]
    page = client.get("/admin/orders?created_from=2026-11-01T00:00:00Z&limit=1", headers=headers)
    cursor = page.get_json()["next_cursor"]
    assert listed(f"created_from=2026-11-01T00:00:00Z&limit=5&cursor={cursor}") == [
        refs[1],
        refs[0],
    ]
    bad = client.get("/admin/orders?created_from=yesterday", headers=headers)
    assert bad.status_code == 422 and bad.get_json()["error"]["code"]


def test_every_filter_and_page_is_read_from_an_index(container: Container) -> None:
    before = (datetime(2026, 11, 2, tzinfo=UTC), db(container, "SELECT gen_random_uuid()"))
    cases: list[tuple[dict[str, Any], str]] = [
        ({}, "orders_shop_recent"),
        ({"before": before}, "orders_shop_recent"),
        ({"created_from": before[0], "created_to": datetime.now(UTC)}, "orders_shop_recent"),
        ({"status": "paid"}, "orders_shop_status_recent"),
        ({"status": "paid", "before": before}, "orders_shop_status_recent"),
    ]
    for (filters, index), mode in product(cases, PLAN_MODES):
        with plans(container, mode) as (uow, seen):
            uow.orders.page("demo", limit=50, **filters)
        [plan] = [p for p in seen if "FROM orders" in p]
        assert f"Index Scan using {index} on orders" in plan, (mode, filters, plan)
        assert "Sort" not in plan, (mode, filters, plan)  # the index gives the order
        if "before" in filters or "created_from" in filters:
            assert "created_at" in plan.split("Index Cond")[1].split("\n")[0], (mode, plan)

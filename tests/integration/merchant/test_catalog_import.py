"""Bulk catalog import from JSON and CSV: upserts (a second run changes nothing), all or
nothing with every bad row reported, never below reserved, and sellable at once."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from integration.workers.outbox_support import run_cli
from support import Storefront, db

from kassa.bootstrap import Container
from schemas.settings import Settings

Headers = dict[str, str]

CSV = """type,sku,product_code,name,unit_amount,active,attr.colour,stock.warehouse,stock.store,id,amount,code,percent_off,amount_off
product,CAP-RED,CAP,Cap,1800,true,red,12,3,,,,,
product,CAP-BLUE,CAP,Cap,1800,true,blue,0,7,,,,,
product,MUG-WHITE,MUG,Enamel mug,1250,true,white,60,,,,,,
shipping_option,,,Courier,,true,,,,courier,900,,,
coupon,,,,,true,,,,,,SPRING,15,
"""


@pytest.fixture
def demo(key_for: Callable[..., Headers]) -> Headers:
    return key_for("demo", "import tests")


def catalog(n: int, prefix: str = "BULK") -> dict[str, Any]:
    return {
        "products": [
            {
                "sku": f"{prefix}-{i:05d}",
                "product_code": f"{prefix}-{i // 4:05d}",
                "name": f"Bulk item {i}",
                "attributes": {"size": ["S", "M", "L", "XL"][i % 4]},
                "unit_amount": 100 + i,
                "stock": [{"location": "warehouse", "on_hand": 5 + i % 7, "priority": 1}],
            }
            for i in range(n)
        ],
        "shipping_options": [{"id": "freight", "name": "Freight", "amount": 2500}],
        "coupons": [{"code": "BULK5", "percent_off": 5}],
        "reason": "spring catalog",
    }


def state(container: Container) -> Any:
    return db(
        container,
        "SELECT md5(concat((SELECT string_agg(t::text, ',' ORDER BY sku) FROM products t),"
        " (SELECT string_agg(l::text, ',' ORDER BY sku, location) FROM inventory_levels l),"
        " (SELECT string_agg(s::text, ',' ORDER BY shop_id, id) FROM shipping_options s),"
        " (SELECT string_agg(c::text, ',' ORDER BY shop_id, code) FROM coupons c),"
        " (SELECT count(*) FROM stock_ledger), (SELECT count(*) FROM outbox)))",
    )


def test_json_import_upserts_and_a_second_run_changes_nothing(
    client: Any, demo: Headers, container: Container
) -> None:
    body = catalog(300)
    resp = client.post("/admin/catalog/import", json=body, headers=demo)
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json() == {"products": 300, "stock_levels": 300, "stock_changes": 300,
                               "shipping_options": 1, "coupons": 1}  # fmt: skip
    assert db(container, "SELECT count(*) FROM products WHERE sku LIKE 'BULK-%%'") == 300
    assert db(container, "SELECT unit_amount FROM products WHERE sku = 'BULK-00299'") == 399
    key_id = demo["Authorization"].split("_")[2]
    assert db(container, "SELECT count(*) FROM stock_ledger WHERE reason = 'spring catalog'"
              " AND actor = %s", f"api_key:{key_id}") == 300  # fmt: skip
    assert db(container, "SELECT count(*) FROM outbox WHERE kind = 'stock_mirror.decrement'") == 1

    before = state(container)
    again = client.post("/admin/catalog/import", json=body, headers=demo)
    assert again.status_code == 200 and again.get_json()["stock_changes"] == 0
    assert state(container) == before  # nothing new: no ledger row, no mirror message

    body["products"][0]["unit_amount"] = 5000
    body["products"][1]["stock"][0]["on_hand"] = 99
    third = client.post("/admin/catalog/import", json=body, headers=demo)
    assert third.get_json()["stock_changes"] == 1
    assert db(container, "SELECT unit_amount FROM products WHERE sku = 'BULK-00000'") == 5000
    assert db(container, "SELECT on_hand FROM inventory_levels WHERE sku = 'BULK-00001'") == 99


def test_a_price_list_without_stock_changes_prices_and_no_stock(
    client: Any, demo: Headers, container: Container
) -> None:
    body = catalog(3)
    assert client.post("/admin/catalog/import", json=body, headers=demo).status_code == 200
    levels = db(container, "SELECT string_agg(l::text, ',' ORDER BY sku) FROM inventory_levels l")
    for product in body["products"]:
        product["unit_amount"] += 1000
        del product["stock"]
    resp = client.post("/admin/catalog/import", json=body, headers=demo)
    assert resp.status_code == 200, resp.get_json()
    assert (resp.get_json()["stock_levels"], resp.get_json()["stock_changes"]) == (0, 0)
    assert db(container, "SELECT unit_amount FROM products WHERE sku = 'BULK-00002'") == 1102
    assert (
        db(container, "SELECT string_agg(l::text, ',' ORDER BY sku) FROM inventory_levels l")
        == levels
    )


def test_csv_import_and_buying_from_it_right_away(
    client: Any, demo: Headers, container: Container
) -> None:
    resp = client.post(
        "/admin/catalog/import", data=CSV, headers={**demo, "Content-Type": "text/csv"}
    )
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json() == {"products": 3, "stock_levels": 5, "stock_changes": 5,
                               "shipping_options": 1, "coupons": 1}  # fmt: skip
    cap = client.get("/admin/products/CAP-BLUE", headers=demo).get_json()
    assert cap["attributes"] == {"colour": "blue"} and cap["product_code"] == "CAP"
    assert (
        db(container, "SELECT unit_amount FROM products WHERE shop_id='demo' AND sku='MUG-WHITE'")
        == 1250
    )

    shopper = Storefront(client)
    assert shopper.add("CAP-BLUE", 2).status_code in {200, 201}
    made = shopper.checkout({"shipping_option_id": "courier", "coupon": "SPRING"})
    assert made.status_code == 201, made.get_json()
    subtotal = 2 * 1800
    assert made.get_json()["amount_total"] == subtotal - subtotal * 15 // 100 + 900
    assert (
        db(
            container,
            "SELECT reserved FROM inventory_levels WHERE sku='CAP-BLUE' AND location='store'",
        )
        == 2
    )


def test_a_bad_file_is_refused_whole_with_every_row_named(
    client: Any, demo: Headers, container: Container
) -> None:
    bad_csv = (
        "type,sku,name,unit_amount,stock.warehouse,code,percent_off\n"
        "product,OK-1,Fine,100,5,,\n"
        "product,BAD-1,Bad price,12.50,5,,\n"
        "product,,No sku,100,,,\n"
        "product,OK-1,Duplicate,100,,,\n"
        "coupon,,,,,HALF,150\n"
        "gadget,X,,,,,\n"
    )
    before = state(container)
    resp = client.post(
        "/admin/catalog/import", data=bad_csv, headers={**demo, "Content-Type": "text/csv"}
    )
    assert resp.status_code == 422
    error = resp.get_json()["error"]
    assert error["code"] == "import_rejected"
    rows = sorted({(e["row"], e["section"]) for e in error["details"]["errors"]})
    assert rows == [(3, "products"), (4, "products"), (6, "coupons"), (7, "gadget")]
    assert state(container) == before

    body = catalog(3)
    body["products"][2]["unit_amount"] = -1
    body["coupons"].append({"code": "X", "percent_off": 10, "amount_off": 5})
    resp = client.post("/admin/catalog/import", json=body, headers=demo)
    errors = resp.get_json()["error"]["details"]["errors"]
    assert resp.status_code == 422
    assert sorted((e["section"], e["row"]) for e in errors) == [("coupons", 2), ("products", 3)]
    assert state(container) == before

    # Duplicates found only after every row validated: still nothing written.
    dup = catalog(2)
    dup["products"].append(dup["products"][0])
    resp = client.post("/admin/catalog/import", json=dup, headers=demo)
    assert resp.status_code == 422 and resp.get_json()["error"]["details"]["errors"][0]["row"] == 3
    assert state(container) == before

    resp = client.post(
        "/admin/catalog/import", data="{nope", headers={**demo, "Content-Type": "application/json"}
    )
    assert resp.status_code == 400 and resp.get_json()["error"]["code"] == "invalid_json"
    resp = client.post(
        "/admin/catalog/import", data=b"x", headers={**demo, "Content-Type": "application/xml"}
    )
    assert resp.status_code == 415


def test_an_import_never_goes_below_reserved(
    client: Any, demo: Headers, container: Container
) -> None:
    shopper = Storefront(client)
    shopper.add("POSTER-A2", 2)
    assert shopper.checkout().status_code == 201
    before = state(container)
    body = {
        "products": [
            {"sku": "NEW-9", "name": "New", "unit_amount": 10, "stock": [{"location": "store", "on_hand": 4}]},
            {"sku": "POSTER-A2", "name": "Limited poster", "unit_amount": 4000,
             "stock": [{"location": "store", "on_hand": 1}]},
        ]
    }  # fmt: skip
    resp = client.post("/admin/catalog/import", json=body, headers=demo)
    assert resp.status_code == 422
    [error] = resp.get_json()["error"]["details"]["errors"]
    assert (error["row"], error["field"]) == (2, "stock.store") and "reserved" in error["message"]
    assert state(container) == before
    assert db(container, "SELECT count(*) FROM products WHERE sku = 'NEW-9'") == 0


def test_import_replays_by_idempotency_key(
    client: Any, demo: Headers, container: Container
) -> None:
    headers = {**demo, "Idempotency-Key": "spring-2027"}
    first = client.post("/admin/catalog/import", json=catalog(5), headers=headers)
    replay = client.post("/admin/catalog/import", json=catalog(5), headers=headers)
    assert replay.get_json() == first.get_json() and replay.headers["Idempotent-Replayed"] == "true"
    assert (
        db(container, "SELECT count(*) FROM audit_events WHERE kind = 'merchant.catalog.import'")
        == 1
    )


def test_catalog_import_command(settings: Settings, container: Container, tmp_path: Path) -> None:
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(catalog(50)))
    result = run_cli(settings, "catalog", "import", str(path), "--shop", "tokyo")
    assert result.returncode == 0, result.stderr
    assert "imported into tokyo" in result.stdout and "50 products" in result.stdout
    assert (
        db(
            container,
            "SELECT count(*) FROM products WHERE shop_id='tokyo' AND currency='jpy' AND sku LIKE 'BULK-%%'",
        )
        == 50
    )
    csv_path = tmp_path / "bad.csv"
    csv_path.write_text("sku,name,unit_amount\nA,,1\n")
    bad = run_cli(settings, "catalog", "import", str(csv_path), "--shop", "tokyo")
    assert bad.returncode == 1 and "import_rejected" in bad.stderr and '"row": 2' in bad.stderr

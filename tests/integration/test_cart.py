"""The cart API: lines come and go, and a product delisted since it was added is not sold."""

from __future__ import annotations

from typing import Any

import pytest
from support import Storefront

from kassa.bootstrap import Container
from ops.seed import seed_shop_in


@pytest.fixture(autouse=True)
def demo(container: Container) -> None:
    with container.uow() as uow:
        seed_shop_in(uow, "demo", container.settings, stripe_api_key="sk_test_kassa_demo")


def line_key(cart: dict[str, Any], sku: str) -> str:
    key: str = next(line["line_key"] for line in cart["lines"] if line["sku"] == sku)
    return key


def test_removing_a_line_leaves_the_others(client: Any) -> None:
    shop = Storefront(client)
    shop.add("MUG-WHITE", 2)
    cart = shop.add("STICKERS", 3).get_json()
    resp = client.delete(f"/api/cart/items/{line_key(cart, 'STICKERS')}", headers=shop.headers)
    assert resp.status_code == 200
    after = resp.get_json()
    assert [(line["sku"], line["quantity"]) for line in after["lines"]] == [("MUG-WHITE", 2)]
    assert after["item_count"] == 2 and after["subtotal"] == after["lines"][0]["line_total"]
    again = client.delete(f"/api/cart/items/{line_key(cart, 'STICKERS')}", headers=shop.headers)
    assert again.status_code == 404 and again.get_json()["error"]["code"] == "unknown_line"
    assert shop.cart().get_json()["lines"] == after["lines"]


def test_quantity_zero_removes_the_line_and_only_it(client: Any) -> None:
    shop = Storefront(client)
    shop.add("MUG-WHITE", 2)
    cart = shop.add("STICKERS", 3).get_json()
    after = shop.set_quantity(line_key(cart, "STICKERS"), 0).get_json()
    assert [(line["sku"], line["quantity"]) for line in after["lines"]] == [("MUG-WHITE", 2)]
    assert shop.cart().get_json()["lines"] == after["lines"]
    gone = shop.set_quantity(line_key(cart, "STICKERS"), 1)
    assert gone.status_code == 404 and gone.get_json()["error"]["code"] == "unknown_line"


def test_a_line_delisted_since_it_was_added_drops_out_of_the_cart(
    client: Any, container: Container
) -> None:
    shop = Storefront(client)
    shop.add("MUG-WHITE", 1)
    shop.add("STICKERS", 2)
    with container.uow() as uow:
        stickers = uow.catalog.product("demo", "STICKERS")
        assert stickers is not None
        uow.catalog.upsert_product(stickers.model_copy(update={"active": False}))
    cart = shop.cart().get_json()
    assert [line["sku"] for line in cart["lines"]] == ["MUG-WHITE"]
    assert cart["item_count"] == 1 and cart["subtotal"] == cart["lines"][0]["unit_amount"]

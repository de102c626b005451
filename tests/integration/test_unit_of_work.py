"""The unit of work commits together or not at all; repositories return exact ints."""

from __future__ import annotations

import pytest

from kassa.bootstrap import Container
from ops.seed import seed_shop_in


def test_commits_when_the_block_ends_normally(container: Container) -> None:
    with container.uow() as uow:
        seed_shop_in(uow, "demo", container.settings)
    with container.uow() as uow:
        shop = uow.shops.get("demo")
    assert shop is not None and shop.currency == "usd"


def test_rolls_back_everything_when_the_block_raises(container: Container) -> None:
    with pytest.raises(RuntimeError), container.uow() as uow:
        seed_shop_in(uow, "demo", container.settings)
        uow.audit.add("demo", "test", None, {})
        raise RuntimeError("boom")
    with container.uow() as uow:
        assert uow.shops.get("demo") is None
        assert uow.audit.list("demo") == []


def test_money_and_stock_come_back_as_int(container: Container) -> None:
    with container.uow() as uow:
        seed_shop_in(uow, "demo", container.settings)
    with container.uow() as uow:
        products = uow.catalog.products_with_availability("demo")
    assert products
    for product, available in products:
        assert type(product.unit_amount) is int
        assert type(available) is int

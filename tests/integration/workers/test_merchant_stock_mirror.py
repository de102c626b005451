"""Merchant stock changes reach the Redis stock mirror through the outbox and a real
worker, so ``kassa reconcile`` finds nothing to repair afterwards, even when a change is
still in flight while it runs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from integration.workers.outbox_support import RelayThread, WorkerProcess

from checkout.reconcile import reconcile
from devstack.processes import wait_for
from kassa.bootstrap import Container
from merchant.catalog_import import import_catalog_in, parse_catalog
from merchant.stock import adjust_stock_in, set_stock_in
from merchant.writes import Actor
from schemas.merchant import StockAdjust, StockSet


def on_hand(container: Container) -> dict[str, int]:
    with container.uow() as uow:
        return uow.inventory.on_hand_by_sku("demo")


def pending_mirror_rows(container: Container) -> int:
    with container.uow() as uow:
        return sum(
            1 for r in uow.outbox.for_shop("demo", "stock_mirror.decrement") if r.state != "done"
        )


def test_stock_changes_keep_the_mirror_in_step(
    container: Container,
    worker_process: Callable[..., WorkerProcess],
    relay_thread: Callable[[Container], RelayThread],
) -> None:
    assert reconcile(container, sessions=False).mirrors[0].repaired  # start in step
    actor = Actor(shop_id="demo", label="test")

    # In flight while reconcile repairs: the change is already in Postgres, so reconcile
    # counts it and the job that arrives later must not apply it again.
    with container.uow() as uow:
        adjust_stock_in(uow, actor, "STICKERS", "store", StockAdjust(delta=-7, reason="samples"))
    assert pending_mirror_rows(container) == 1
    reconcile(container, sessions=False)
    worker = worker_process()
    relay_thread(container)
    wait_for(
        lambda: pending_mirror_rows(container) == 0, what="mirror row done", context=worker.log_tail
    )
    assert container.mirror.levels("demo") == on_hand(container)

    # With no reconcile in between, the deltas alone keep the mirror right.
    with container.uow() as uow:
        set_stock_in(uow, actor, "MUG-WHITE", "warehouse", StockSet(on_hand=70, reason="delivery"))
    with container.uow() as uow:
        shop: Any = uow.shops.get("demo")
        catalog = parse_catalog(
            b'{"products": [{"sku": "MUG-WHITE", "name": "Enamel mug", "unit_amount": 1200,'
            b' "stock": [{"location": "store", "on_hand": 9}]}, {"sku": "NEW-1", "name": "New",'
            b' "unit_amount": 5, "stock": [{"location": "warehouse", "on_hand": 11}]}]}',
            "json",
        )
        import_catalog_in(uow, shop, actor, catalog)
    wait_for(
        lambda: pending_mirror_rows(container) == 0,
        what="mirror rows done",
        context=worker.log_tail,
    )
    assert on_hand(container)["MUG-WHITE"] == 70 + 9 and on_hand(container)["NEW-1"] == 11
    assert container.mirror.levels("demo") == on_hand(container)
    assert reconcile(container, sessions=False, repair=False).mirrors[0].drift == []

"""Stock per location for merchants: set or adjust on-hand units with a reason.

On-hand never goes below what live holds reserve: the level row is locked (the lock
checkouts take too), so a check against ``reserved`` cannot race a reservation, and the
table's ``reserved <= on_hand`` constraint backs the check. The trigger on the table
writes each movement to the stock ledger with the actor and reason set here, and the
same transaction queues the matching change of the Redis stock mirror in the outbox.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from checkout.errors import StockBelowReserved, UnknownSku
from checkout.ports import Services
from checkout.stock_alerts import report_changed_in
from checkout.validation import validate_field
from merchant.writes import Actor
from repos.unit_of_work import UnitOfWork
from schemas.merchant import (
    LOCATION,
    StockAdjust,
    StockLedgerPage,
    StockLedgerView,
    StockLevelView,
    StockSet,
)
from schemas.outbox import StockLine, StockMirrorDecrement
from schemas.records import InventoryLevel

LEDGER_PAGE = 100


def level_view(level: InventoryLevel) -> StockLevelView:
    return StockLevelView(**level.model_dump(), available=level.available)


def list_stock(services: Services, shop_id: str) -> list[StockLevelView]:
    with services.uow() as uow:
        return [level_view(lv) for lv in uow.inventory.levels(shop_id)]


def ledger(
    services: Services, shop_id: str, sku: str | None, after: int, limit: int = LEDGER_PAGE
) -> StockLedgerPage:
    with services.uow() as uow:
        rows = uow.stock_ledger.entries(shop_id, sku, after=after, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return StockLedgerPage(
        entries=[StockLedgerView.model_validate(r.model_dump()) for r in rows],
        next_cursor=str(rows[-1].id) if more else None,
    )


def below_reserved(level: InventoryLevel, on_hand: int) -> dict[str, object] | None:
    """The details of a 409 if ``on_hand`` units would not cover the reservations."""
    if on_hand >= level.reserved:
        return None
    return {
        "sku": level.sku,
        "location": level.location,
        "requested_on_hand": on_hand,
        "on_hand": level.on_hand,
        "reserved": level.reserved,
    }


def queue_mirror_in(uow: UnitOfWork, shop_id: str, deltas: dict[str, int]) -> None:
    """The Redis mirror follows on-hand units: queue the change with the write that made it."""
    lines = [StockLine(sku=sku, quantity=-d) for sku, d in sorted(deltas.items()) if d]
    if lines:
        uow.outbox.add_message(
            StockMirrorDecrement(shop_id=shop_id, lines=lines),
            f"stock-mirror:{shop_id}:{uuid.uuid4()}",
        )


def _change_in(
    uow: UnitOfWork,
    actor: Actor,
    sku: str,
    location: str,
    reason: str,
    target: Callable[[InventoryLevel], int],
    priority: int | None = None,
) -> tuple[int, StockLevelView]:
    if uow.catalog.product(actor.shop_id, sku) is None:
        raise UnknownSku()
    validate_field(LOCATION, location, "location")
    level = uow.inventory.lock_level(actor.shop_id, sku, location)
    on_hand = target(level)
    refused = below_reserved(level, on_hand)
    if refused is not None:
        raise StockBelowReserved(details=refused)
    uow.stock_ledger.label(actor.label, reason)
    after = uow.inventory.set_on_hand(
        actor.shop_id, sku, location, on_hand, level.priority if priority is None else priority
    )
    delta = {sku: after.on_hand - level.on_hand}
    queue_mirror_in(uow, actor.shop_id, delta)
    if delta[sku] < 0 and (shop := uow.shops.get(actor.shop_id)) is not None:
        report_changed_in(uow, shop.id, shop.low_stock_threshold, delta)
    return 200, level_view(after)


def set_stock_in(
    uow: UnitOfWork, actor: Actor, sku: str, location: str, body: StockSet
) -> tuple[int, StockLevelView]:
    return _change_in(uow, actor, sku, location, body.reason, lambda _: body.on_hand, body.priority)


def adjust_stock_in(
    uow: UnitOfWork, actor: Actor, sku: str, location: str, body: StockAdjust
) -> tuple[int, StockLevelView]:
    return _change_in(uow, actor, sku, location, body.reason, lambda lv: lv.on_hand + body.delta)

"""stock.low: tell the merchant when a change takes a SKU's available units (on hand minus
reserved, over all of the shop's locations) from above the shop's ``low_stock_threshold``
to at or below it.

Sent on the crossing, not on every change below the threshold: a SKU is reported once,
and again only after its stock went back above the threshold and fell again (a lapsed
hold that comes back and is taken again counts as such). The event is written in the
transaction of the change, like every other event. A shop without a threshold pays
nothing; one with a threshold pays no query on the checkout path (the stock rows are
already locked and read there), and one query on a merchant's stock change.
"""

from __future__ import annotations

from collections.abc import Iterable

from checkout.merchant_events import emit_in
from repos.unit_of_work import UnitOfWork
from schemas.merchant_events import StockLow
from schemas.records import InventoryLevel


def _report_in(
    uow: UnitOfWork, shop_id: str, threshold: int, before: dict[str, int], after: dict[str, int]
) -> None:
    for sku in sorted(after):
        if before[sku] > threshold >= after[sku]:
            low = StockLow(sku=sku, available=after[sku], threshold=threshold)
            emit_in(uow, shop_id, "stock.low", low.model_dump(mode="json"))


def report_taken_in(
    uow: UnitOfWork,
    shop_id: str,
    threshold: int | None,
    levels: Iterable[InventoryLevel],
    taken: dict[str, int],
) -> None:
    """After a checkout reserved (or took) ``taken`` units from the locked ``levels``,
    which are every location of those SKUs as they were before."""
    if threshold is None:
        return
    before = dict.fromkeys(taken, 0)
    for level in levels:
        before[level.sku] += level.available
    _report_in(uow, shop_id, threshold, before, {sku: before[sku] - n for sku, n in taken.items()})


def report_changed_in(
    uow: UnitOfWork, shop_id: str, threshold: int | None, deltas: dict[str, int]
) -> None:
    """After a merchant's change of on-hand units by ``deltas`` (already written)."""
    lowered = sorted(sku for sku, delta in deltas.items() if delta < 0)
    if threshold is None or not lowered:
        return
    after = uow.inventory.availability(shop_id, lowered)
    _report_in(uow, shop_id, threshold, {sku: after[sku] - deltas[sku] for sku in lowered}, after)

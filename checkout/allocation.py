"""Which location gives which units: priority order, then location name, deterministically."""

from __future__ import annotations

from checkout.errors import OutOfStock
from schemas.checkout import OutOfStockLine
from schemas.records import Allocation, InventoryLevel


def allocate(levels: list[InventoryLevel], wanted: dict[str, int]) -> Allocation:
    """Take each SKU from its locations in priority order; all or nothing.

    Raises OutOfStock listing every short line (not just the first), so a storefront
    can show the customer the whole problem at once.
    """
    by_sku: dict[str, list[InventoryLevel]] = {}
    for level in levels:
        by_sku.setdefault(level.sku, []).append(level)
    allocation: Allocation = {}
    short: list[OutOfStockLine] = []
    for sku in sorted(wanted):
        need = wanted[sku]
        candidates = sorted(by_sku.get(sku, []), key=lambda lv: (lv.priority, lv.location))
        available = sum(max(lv.available, 0) for lv in candidates)
        if available < need:
            short.append(OutOfStockLine(sku=sku, requested=need, available=available))
            continue
        for level in candidates:
            take = min(need, max(level.available, 0))
            if take:
                allocation.setdefault(level.location, {})[sku] = take
                need -= take
            if need == 0:
                break
    if short:
        raise OutOfStock(details={"lines": [line.model_dump() for line in short]})
    return allocation

"""Which location gives which units: priority first, then name, all or nothing."""

from __future__ import annotations

import pytest

from checkout.allocation import allocate
from checkout.errors import OutOfStock
from schemas.records import InventoryLevel


def level(
    sku: str, location: str, priority: int, on_hand: int, reserved: int = 0
) -> InventoryLevel:
    return InventoryLevel(
        sku=sku, location=location, priority=priority, on_hand=on_hand, reserved=reserved
    )


def test_takes_from_the_highest_priority_location_first() -> None:
    levels = [level("MUG", "store", 2, 10), level("MUG", "warehouse", 1, 10)]
    assert allocate(levels, {"MUG": 4}) == {"warehouse": {"MUG": 4}}


def test_spills_over_to_the_next_location_counting_reservations() -> None:
    levels = [level("MUG", "warehouse", 1, 5, reserved=2), level("MUG", "store", 2, 10)]
    assert allocate(levels, {"MUG": 6}) == {"warehouse": {"MUG": 3}, "store": {"MUG": 3}}


def test_equal_priorities_are_ordered_by_location_name() -> None:
    levels = [level("MUG", "b-shop", 1, 10), level("MUG", "a-shop", 1, 10)]
    assert allocate(levels, {"MUG": 12}) == {"a-shop": {"MUG": 10}, "b-shop": {"MUG": 2}}


def test_an_oversold_location_counts_as_empty_and_gives_nothing() -> None:
    levels = [level("MUG", "warehouse", 1, 1, reserved=3), level("MUG", "store", 2, 2)]
    assert allocate(levels, {"MUG": 2}) == {"store": {"MUG": 2}}


def test_exactly_all_the_stock_can_be_taken() -> None:
    levels = [level("MUG", "warehouse", 1, 2), level("TEE", "warehouse", 1, 1)]
    assert allocate(levels, {"MUG": 2, "TEE": 1}) == {"warehouse": {"MUG": 2, "TEE": 1}}


def test_every_short_line_is_reported_and_nothing_is_allocated() -> None:
    levels = [level("MUG", "warehouse", 1, 1), level("TEE", "warehouse", 1, 5)]
    with pytest.raises(OutOfStock) as info:
        allocate(levels, {"TEE": 2, "POSTER": 1, "MUG": 3})
    assert info.value.details == {
        "lines": [
            {"sku": "MUG", "requested": 3, "available": 1},
            {"sku": "POSTER", "requested": 1, "available": 0},
        ]
    }


def test_zero_units_of_a_sku_no_location_stocks_allocate_nothing() -> None:
    """Nothing wanted is never short, even of a SKU with no stock anywhere."""
    assert allocate([level("MUG", "warehouse", 1, 2)], {"POSTER": 0, "MUG": 1}) == {
        "warehouse": {"MUG": 1}
    }

"""List endpoints' shared parameters: cursor pagination and `created` filters."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from stripe_emulator import defaults
from stripe_emulator.errors import invalid_param, resource_missing
from stripe_emulator.params import ParamReader

T = TypeVar("T")

PAGE_PARAMS = ("limit", "starting_after", "ending_before")


@dataclass(frozen=True)
class Page:
    limit: int
    starting_after: str | None
    ending_before: str | None


def read_page(reader: ParamReader) -> Page:
    limit = reader.integer("limit", minimum=1)
    if limit is not None and limit > defaults.LIST_MAX_LIMIT:
        raise invalid_param(
            "limit", f"This value must be less than or equal to {defaults.LIST_MAX_LIMIT}."
        )
    return Page(
        limit=limit or defaults.LIST_DEFAULT_LIMIT,
        starting_after=reader.string("starting_after"),
        ending_before=reader.string("ending_before"),
    )


def paginate(
    items: Sequence[T], page: Page, *, ident: Callable[[T], str], object_name: str
) -> tuple[list[T], bool]:
    """One page of `items` (already in display order) and whether more follow."""
    ids = [ident(item) for item in items]
    if page.starting_after is not None:
        start = _index(ids, page.starting_after, object_name, "starting_after") + 1
        chunk = list(items[start : start + page.limit])
        return chunk, start + page.limit < len(items)
    if page.ending_before is not None:
        end = _index(ids, page.ending_before, object_name, "ending_before")
        start = max(0, end - page.limit)
        return list(items[start:end]), start > 0
    return list(items[: page.limit]), len(items) > page.limit


def read_created_filter(reader: ParamReader, key: str = "created") -> Callable[[int], bool]:
    """`created=N` or `created[gt|gte|lt|lte]=N`, as every Stripe list accepts."""
    if not reader.has(key):
        return lambda _created: True
    bounds = reader.child(key) if isinstance(reader.data.get(key), dict) else None
    if bounds is None:
        exact = reader.integer(key)
        return lambda created: created == exact
    bounds.only(("gt", "gte", "lt", "lte"))
    gt, gte = bounds.integer("gt"), bounds.integer("gte")
    lt, lte = bounds.integer("lt"), bounds.integer("lte")

    def matches(created: int) -> bool:
        return (
            (gt is None or created > gt)
            and (gte is None or created >= gte)
            and (lt is None or created < lt)
            and (lte is None or created <= lte)
        )

    return matches


def _index(ids: list[str], cursor: str, object_name: str, param: str) -> int:
    try:
        return ids.index(cursor)
    except ValueError:
        raise resource_missing(object_name, cursor, param=param) from None

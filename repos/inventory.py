"""Stock levels and holds. Rows are locked in one global order (sku, location) so that
concurrent checkouts queue instead of deadlocking, and every change is conditional so
that ``reserved <= on_hand`` holds even if a caller's arithmetic were wrong."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from prometheus_client import Counter

from repos.base import Repository
from schemas.records import Allocation, HoldLine, HoldState, InventoryLevel

HOLD_TRANSITIONS = Counter(
    "kassa_hold_transitions_total",
    "Holds placed (active), committed, released or expired, counted where they change",
    ["to"],
)


class StockChanged(RuntimeError):
    """A conditional stock update matched no row: the caller's view of stock was stale."""


class InventoryRepository(Repository):
    def availability(self, shop_id: str, skus: list[str]) -> dict[str, int]:
        """Sellable units per sku in one query, however many skus are asked for."""
        rows = self.conn.execute(
            """
            SELECT s.sku, COALESCE(SUM(il.on_hand - il.reserved), 0)::bigint AS available
            FROM unnest(%s::text[]) AS s(sku)
            LEFT JOIN inventory_levels il ON il.shop_id = %s AND il.sku = s.sku
            GROUP BY s.sku
            """,
            (skus, shop_id),
        ).fetchall()
        return {r["sku"]: int(r["available"]) for r in rows}

    def lock_levels(self, shop_id: str, skus: list[str]) -> list[InventoryLevel]:
        return self._all(
            InventoryLevel,
            """
            SELECT sku, location, priority, on_hand, reserved FROM inventory_levels
            WHERE shop_id = %s AND sku = ANY(%s) ORDER BY sku, location FOR UPDATE
            """,
            (shop_id, sorted(set(skus))),
        )

    def levels(self, shop_id: str) -> list[InventoryLevel]:
        return self._all(
            InventoryLevel,
            "SELECT sku, location, priority, on_hand, reserved FROM inventory_levels"
            " WHERE shop_id = %s ORDER BY sku, location",
            (shop_id,),
        )

    def on_hand_by_sku(self, shop_id: str) -> dict[str, int]:
        rows = self.conn.execute(
            "SELECT sku, SUM(on_hand)::bigint AS n FROM inventory_levels WHERE shop_id = %s"
            " GROUP BY sku",
            (shop_id,),
        ).fetchall()
        return {r["sku"]: int(r["n"]) for r in rows}

    def set_level(self, shop_id: str, level: InventoryLevel) -> None:
        self.conn.execute(
            """
            INSERT INTO inventory_levels (shop_id, sku, location, priority, on_hand, reserved)
            VALUES (%s, %s, %s, %s, %s, %s)
            ON CONFLICT (shop_id, sku, location) DO UPDATE SET
                priority = EXCLUDED.priority, on_hand = EXCLUDED.on_hand,
                reserved = EXCLUDED.reserved
            """,
            (shop_id, level.sku, level.location, level.priority, level.on_hand, level.reserved),
        )

    def lock_level(self, shop_id: str, sku: str, location: str) -> InventoryLevel:
        """The level row, created empty if missing, locked until the transaction ends."""
        self.conn.execute(
            "INSERT INTO inventory_levels (shop_id, sku, location, on_hand) VALUES (%s, %s, %s, 0)"
            " ON CONFLICT (shop_id, sku, location) DO NOTHING",
            (shop_id, sku, location),
        )
        level = self._one(
            InventoryLevel,
            "SELECT sku, location, priority, on_hand, reserved FROM inventory_levels"
            " WHERE shop_id = %s AND sku = %s AND location = %s FOR UPDATE",
            (shop_id, sku, location),
        )
        assert level is not None
        return level

    def set_on_hand(
        self, shop_id: str, sku: str, location: str, on_hand: int, priority: int
    ) -> InventoryLevel:
        """Set a locked level's units; the table's check refuses going below reserved."""
        level = self._one(
            InventoryLevel,
            "UPDATE inventory_levels SET on_hand = %s, priority = %s"
            " WHERE shop_id = %s AND sku = %s AND location = %s"
            " RETURNING sku, location, priority, on_hand, reserved",
            (on_hand, priority, shop_id, sku, location),
        )
        assert level is not None
        return level

    def lock_levels_at(
        self, shop_id: str, keys: list[tuple[str, str]]
    ) -> dict[tuple[str, str], InventoryLevel]:
        """Existing levels for these (sku, location) pairs, locked in the global order."""
        if not keys:
            return {}
        levels = self._all(
            InventoryLevel,
            """
            SELECT il.sku, il.location, il.priority, il.on_hand, il.reserved
            FROM inventory_levels il
            JOIN unnest(%s::text[], %s::text[]) AS k(sku, location)
              ON il.sku = k.sku AND il.location = k.location
            WHERE il.shop_id = %s ORDER BY il.sku, il.location FOR UPDATE OF il
            """,
            ([s for s, _ in keys], [loc for _, loc in keys], shop_id),
        )
        return {(lv.sku, lv.location): lv for lv in levels}

    def bulk_set_on_hand(self, shop_id: str, levels: list[InventoryLevel]) -> None:
        """Create or set many levels in one COPY and one upsert (``reserved`` untouched);
        the caller has locked the existing rows and checked them against reserved."""
        self.conn.execute(
            "CREATE TEMP TABLE import_levels (sku text, location text, priority integer,"
            " on_hand integer) ON COMMIT DROP"
        )
        with self.conn.cursor().copy(
            "COPY import_levels (sku, location, priority, on_hand) FROM STDIN"
        ) as copy:
            for lv in levels:
                copy.write_row((lv.sku, lv.location, lv.priority, lv.on_hand))
        self.conn.execute(
            """
            INSERT INTO inventory_levels (shop_id, sku, location, priority, on_hand)
            SELECT %s, sku, location, priority, on_hand FROM import_levels
            ORDER BY sku, location
            ON CONFLICT (shop_id, sku, location) DO UPDATE SET
                priority = EXCLUDED.priority, on_hand = EXCLUDED.on_hand
            """,
            (shop_id,),
        )

    def place_holds(
        self,
        shop_id: str,
        checkout_id: UUID,
        allocation: Allocation,
        expires_at: datetime,
        *,
        state: HoldState = "active",
    ) -> None:
        """Record one hold per location; ``active`` reserves the units, ``committed`` takes them.

        The caller has locked the stock rows and allocated from what it read, so every update
        must find its units; one that does not (``StockChanged``) means the rows changed under
        a lock, and rolls everything back. Each hold and its lines are one statement, and the
        stock updates (in lock order) one round trip, to keep the hot rows' locks short."""
        for location in sorted(allocation):
            skus = sorted(allocation[location])
            self.conn.execute(
                """
                WITH hold AS (
                    INSERT INTO inventory_holds (shop_id, checkout_id, location, state, expires_at)
                    VALUES (%s, %s, %s, %s, %s) RETURNING id)
                INSERT INTO inventory_hold_lines (hold_id, sku, quantity)
                SELECT hold.id, line.sku, line.quantity
                FROM hold, unnest(%s::text[], %s::int[]) AS line(sku, quantity)
                """,
                (
                    shop_id,
                    checkout_id,
                    location,
                    state,
                    expires_at,
                    skus,
                    [allocation[location][sku] for sku in skus],
                ),
            )
            HOLD_TRANSITIONS.labels(state).inc()
        change = (
            "on_hand = on_hand - %(q)s" if state == "committed" else "reserved = reserved + %(q)s"
        )
        updates = [
            {"q": qty, "shop": shop_id, "sku": sku, "loc": location}
            for sku, location, qty in sorted(
                (sku, location, qty)
                for location, lines in allocation.items()
                for sku, qty in lines.items()
            )
        ]
        with self.conn.cursor() as cur:
            cur.executemany(
                f"UPDATE inventory_levels SET {change}"  # noqa: S608
                " WHERE shop_id = %(shop)s AND sku = %(sku)s AND location = %(loc)s"
                " AND on_hand - reserved >= %(q)s",
                updates,
            )
            if cur.rowcount != len(updates):
                raise StockChanged(", ".join(f"{u['sku']}@{u['loc']}" for u in updates))

    def holds(self, checkout_id: UUID) -> list[HoldLine]:
        return self._all(
            HoldLine,
            """
            SELECT h.id AS hold_id, h.location, h.state, l.sku, l.quantity
            FROM inventory_holds h JOIN inventory_hold_lines l ON l.hold_id = h.id
            WHERE h.checkout_id = %s ORDER BY l.sku, h.location
            """,
            (checkout_id,),
        )

    def finish_holds(self, shop_id: str, checkout_id: UUID, to: HoldState) -> list[HoldLine]:
        """Move the checkout's active holds to ``to`` and settle the units at once: see
        ``close_holds`` and ``settle_levels``, which fulfilment calls apart."""
        closed = self.close_holds(checkout_id, to)
        self.settle_levels(shop_id, closed, to)
        return closed

    def close_holds(self, checkout_id: UUID, to: HoldState) -> list[HoldLine]:
        """Move the checkout's active holds to ``to``; their lines, in lock order, are what
        ``settle_levels`` must then apply. Holds that are no longer active are left alone, so
        closing twice settles once. Hold rows are only ever changed under their checkout's
        row lock, which the caller holds: no stock row is locked here."""
        closed = self._all(
            HoldLine,
            """
            WITH closed AS (
                UPDATE inventory_holds SET state = %s, updated_at = now()
                WHERE checkout_id = %s AND state = 'active'
                RETURNING id, location, state)
            SELECT c.id AS hold_id, c.location, c.state, l.sku, l.quantity
            FROM closed c JOIN inventory_hold_lines l ON l.hold_id = c.id
            ORDER BY l.sku, c.location
            """,
            (to, checkout_id),
        )
        HOLD_TRANSITIONS.labels(to).inc(len({h.hold_id for h in closed}))
        return closed

    def settle_levels(self, shop_id: str, closed: list[HoldLine], to: HoldState) -> None:
        """Apply closed holds to the stock rows: ``committed`` turns reserved units into sold
        ones (on_hand and reserved both drop); ``released``/``expired`` give them back.

        These are the hot rows of a sale, so fulfilment runs this last, just before its
        commit, to hold their locks for as short a time as possible. The updates go in
        (sku, location) order, the order every stock lock in Kassa is taken in, so two
        transactions never wait on each other in a circle; ``executemany`` sends them in
        one round trip."""
        if not closed:
            return
        sold = "on_hand = on_hand - %(q)s, " if to == "committed" else ""
        with self.conn.cursor() as cur:
            cur.executemany(
                f"UPDATE inventory_levels SET {sold}reserved = reserved - %(q)s"  # noqa: S608
                " WHERE shop_id = %(shop)s AND sku = %(sku)s AND location = %(loc)s",
                [
                    {"q": h.quantity, "shop": shop_id, "sku": h.sku, "loc": h.location}
                    for h in sorted(closed, key=lambda h: (h.sku, h.location))
                ],
            )

    def return_units(self, shop_id: str, checkout_id: UUID, units: dict[str, int]) -> None:
        """Put units an order no longer takes back on hand, at the locations they came from.

        The order's committed hold lines shrink by what is returned, so they always say
        what the order still takes, and no location gets back more than it gave.
        """
        committed = [h for h in self.holds(checkout_id) if h.state == "committed"]
        self.lock_levels(shop_id, [sku for sku, qty in units.items() if qty > 0])
        for sku in sorted(units):
            left = units[sku]
            for h in (h for h in committed if h.sku == sku):
                if left <= 0:
                    break
                take = min(left, h.quantity)
                left -= take
                if take == h.quantity:
                    self.conn.execute(
                        "DELETE FROM inventory_hold_lines WHERE hold_id = %s AND sku = %s",
                        (h.hold_id, sku),
                    )
                else:
                    self.conn.execute(
                        "UPDATE inventory_hold_lines SET quantity = quantity - %s"
                        " WHERE hold_id = %s AND sku = %s",
                        (take, h.hold_id, sku),
                    )
                self.conn.execute(
                    "UPDATE inventory_levels SET on_hand = on_hand + %s"
                    " WHERE shop_id = %s AND sku = %s AND location = %s",
                    (take, shop_id, sku, h.location),
                )
            if left > 0:
                raise StockChanged(f"{sku}: {left} more returned than the order took")

    def lapsed_checkouts(self, now: datetime, limit: int = 100) -> list[tuple[str, UUID]]:
        """(shop, checkout) pairs whose active holds have passed their expiry."""
        rows = self.conn.execute(
            """
            SELECT DISTINCT shop_id, checkout_id FROM inventory_holds
            WHERE state = 'active' AND expires_at < %s LIMIT %s
            """,
            (now, limit),
        ).fetchall()
        return [(r["shop_id"], r["checkout_id"]) for r in rows]

    def mirror_snapshot(
        self, shop_id: str, decrement_kind: str
    ) -> tuple[dict[str, int], list[str]]:
        """On-hand units per sku and the dedupe keys of stock-mirror decrements not yet done,
        read in one statement (one snapshot): the sales behind those keys are already in
        ``on_hand``, so a mirror rebuilt from it must treat them as applied."""
        rows = self.conn.execute(
            """
            SELECT 'level' AS what, sku AS name, SUM(on_hand)::bigint AS n
              FROM inventory_levels WHERE shop_id = %(shop)s GROUP BY sku
            UNION ALL
            SELECT 'pending', dedupe_key, 0 FROM outbox
             WHERE shop_id = %(shop)s AND kind = %(kind)s AND state <> 'done'
            """,
            {"shop": shop_id, "kind": decrement_kind},
        ).fetchall()
        levels = {r["name"]: int(r["n"]) for r in rows if r["what"] == "level"}
        return levels, sorted(r["name"] for r in rows if r["what"] == "pending")

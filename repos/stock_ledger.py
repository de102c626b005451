"""The stock ledger: every change of on-hand units, written by a trigger on
``inventory_levels`` (0012.merchant_writes.sql) so no code path can skip it. Writers
label their transaction with who and why; this repository sets and reads those labels."""

from __future__ import annotations

from repos.base import Repository
from schemas.records import StockLedgerEntry


class StockLedgerRepository(Repository):
    def label(self, actor: str, reason: str) -> None:
        """Who and why for the stock changes that follow, until the transaction ends."""
        self.conn.execute(
            "SELECT set_config('kassa.actor', %s, true), set_config('kassa.stock_reason', %s, true)",
            (actor, reason),
        )

    def entries(
        self,
        shop_id: str,
        sku: str | None = None,
        *,
        after: int = 0,
        limit: int = 100,
    ) -> list[StockLedgerEntry]:
        return self._all(
            StockLedgerEntry,
            "SELECT id, sku, location, delta, on_hand_after, reason, actor, created_at"
            " FROM stock_ledger WHERE shop_id = %s AND (%s::text IS NULL OR sku = %s)"
            " AND id > %s ORDER BY id LIMIT %s",
            (shop_id, sku, sku, after, limit),
        )

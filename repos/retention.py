"""Deleting what Kassa no longer needs, a small batch at a time.

Each method deletes at most ``limit`` rows, oldest first, picked through a partial index
(0030.retention_indexes.sql) with ``FOR UPDATE SKIP LOCKED``: a batch never waits for a row
that a live transaction holds, and holds its own locks only for one short transaction.
"""

from __future__ import annotations

from datetime import datetime

from repos.base import Repository


class RetentionRepository(Repository):
    def delete_done_outbox(self, before: datetime, limit: int) -> int:
        """Outbox rows whose side effect was done before ``before``."""
        cur = self.conn.execute(
            """
            DELETE FROM outbox WHERE id IN (
                SELECT id FROM outbox WHERE state = 'done' AND done_at < %s
                ORDER BY done_at LIMIT %s FOR UPDATE SKIP LOCKED)
            """,
            (before, limit),
        )
        return cur.rowcount

    def delete_processed_events(self, before: datetime, limit: int) -> int:
        """Stripe events processed before ``before`` (Stripe stops retrying after 3 days, so
        an event this old cannot come back to be deduplicated)."""
        cur = self.conn.execute(
            """
            DELETE FROM stripe_events WHERE event_id IN (
                SELECT event_id FROM stripe_events
                WHERE processed_at IS NOT NULL AND processed_at < %s
                ORDER BY processed_at LIMIT %s FOR UPDATE SKIP LOCKED)
            """,
            (before, limit),
        )
        return cur.rowcount

    def delete_expired_checkouts(self, before: datetime, limit: int) -> int:
        """Checkouts that expired before ``before``, never became an order and hold no active
        stock, with their finished holds (lines first, then holds, then the checkout)."""
        cur = self.conn.execute(
            """
            WITH doomed AS (
                SELECT c.id FROM checkouts c
                WHERE c.state = 'expired' AND c.expires_at < %(before)s
                  AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.checkout_id = c.id)
                  AND NOT EXISTS (SELECT 1 FROM inventory_holds h
                                  WHERE h.checkout_id = c.id AND h.state = 'active')
                ORDER BY c.expires_at LIMIT %(limit)s FOR UPDATE OF c SKIP LOCKED
            ), holds AS (
                SELECT h.id FROM inventory_holds h JOIN doomed d ON h.checkout_id = d.id
            ), lines AS (
                DELETE FROM inventory_hold_lines l USING holds WHERE l.hold_id = holds.id
            ), gone_holds AS (
                DELETE FROM inventory_holds h USING holds WHERE h.id = holds.id
            )
            DELETE FROM checkouts c USING doomed d WHERE c.id = d.id
            """,
            {"before": before, "limit": limit},
        )
        return cur.rowcount

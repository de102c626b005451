"""Stripe event ids already handled: the webhook's first line of dedupe."""

from __future__ import annotations

from repos.base import Repository


class StripeEventRepository(Repository):
    def record(self, event_id: str, shop_id: str, event_type: str) -> bool:
        """True if this event is new. Runs inside the handling transaction, so a
        rollback forgets the event and Stripe's retry is processed again; a twin
        delivered concurrently blocks here until the first commits, then sees it."""
        row = self.conn.execute(
            """
            INSERT INTO stripe_events (event_id, shop_id, type, processed_at)
            VALUES (%s, %s, %s, now()) ON CONFLICT (event_id) DO NOTHING RETURNING event_id
            """,
            (event_id, shop_id, event_type),
        ).fetchone()
        return row is not None

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

    def known(self, event_ids: list[str]) -> set[str]:
        """Which of these events were already handled (by a webhook or an earlier walk)."""
        rows = self.conn.execute(
            "SELECT event_id FROM stripe_events WHERE event_id = ANY(%s)", (event_ids,)
        ).fetchall()
        return {r["event_id"] for r in rows}

    def lease_cursor(self, shop_id: str, lease_seconds: float) -> int | None:
        """Take the shop's event walk for ``lease_seconds`` and return where it starts
        (``created >=`` this Unix time); None if another process holds the walk. A walker
        that dies simply lets its lease run out."""
        row = self.conn.execute(
            """
            INSERT INTO stripe_event_cursors (shop_id, created_gte, leased_until)
            VALUES (%(shop)s, 0, now() + make_interval(secs => %(lease)s))
            ON CONFLICT (shop_id) DO UPDATE
                SET leased_until = EXCLUDED.leased_until, updated_at = now()
                WHERE stripe_event_cursors.leased_until IS NULL
                   OR stripe_event_cursors.leased_until < now()
            RETURNING created_gte
            """,
            {"shop": shop_id, "lease": lease_seconds},
        ).fetchone()
        return int(row["created_gte"]) if row else None

    def release_cursor(self, shop_id: str, created_gte: int) -> None:
        """End the walk: the next one starts at ``created_gte`` (never moving backwards)."""
        self.conn.execute(
            """
            UPDATE stripe_event_cursors
            SET created_gte = GREATEST(created_gte, %s), leased_until = NULL, updated_at = now()
            WHERE shop_id = %s
            """,
            (created_gte, shop_id),
        )

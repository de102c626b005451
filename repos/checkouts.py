"""Checkout intents: one live row per (shop, idempotency key), the anchor of holds and orders."""

from __future__ import annotations

from uuid import UUID

from psycopg.types.json import Jsonb

from repos.base import Repository
from schemas.records import CheckoutRecord, CheckoutState


class CheckoutRepository(Repository):
    def create_or_get(self, record: CheckoutRecord) -> tuple[CheckoutRecord, bool]:
        """Insert the intent, or return the live twin. ``ON CONFLICT`` waits for a concurrent
        inserter of the same key to commit, so twins always converge on one row."""
        row = self._one(
            CheckoutRecord,
            """
            INSERT INTO checkouts (id, shop_id, idempotency_key, cart_hash, cart_id, lines,
                subtotal, discount, shipping, total, currency, shipping_option_id, coupon_code,
                coupon_percent_off, coupon_amount_off, capture_method, state, expires_at,
                nonce_hash, order_id)
            VALUES (%(id)s, %(shop_id)s, %(idempotency_key)s, %(cart_hash)s, %(cart_id)s,
                %(lines)s, %(subtotal)s, %(discount)s, %(shipping)s, %(total)s, %(currency)s,
                %(shipping_option_id)s, %(coupon_code)s, %(coupon_percent_off)s,
                %(coupon_amount_off)s, %(capture_method)s, 'pending', %(expires_at)s,
                %(nonce_hash)s, %(order_id)s)
            ON CONFLICT (shop_id, idempotency_key) WHERE claims_intent DO NOTHING
            RETURNING *
            """,
            {
                **record.model_dump(exclude={"lines"}),
                "lines": Jsonb([line.model_dump() for line in record.lines]),
            },
        )
        if row is not None:
            return row, True
        twin = self._one(
            CheckoutRecord,
            """SELECT * FROM checkouts WHERE shop_id = %s AND idempotency_key = %s
               AND claims_intent""",
            (record.shop_id, record.idempotency_key),
        )
        if twin is None:  # the twin failed between our insert and select: insert again
            return self.create_or_get(record)  # pragma: no cover - a race of microseconds
        return twin, False

    def get(self, shop_id: str, checkout_id: UUID, *, lock: bool = False) -> CheckoutRecord | None:
        sql = "SELECT * FROM checkouts WHERE shop_id = %s AND id = %s"
        return self._one(
            CheckoutRecord, sql + (" FOR UPDATE" if lock else ""), (shop_id, checkout_id)
        )

    def attach_session(self, checkout_id: UUID, session_id: str, url: str | None) -> None:
        self.conn.execute(
            """
            UPDATE checkouts SET stripe_session_id = %s, stripe_session_url = %s,
                state = CASE WHEN state = 'pending' THEN 'open' ELSE state END, updated_at = now()
            WHERE id = %s
            """,
            (session_id, url, checkout_id),
        )

    def set_state(self, checkout_id: UUID, state: CheckoutState) -> None:
        """A checkout that failed, expired or was refunded gives up its intent for good, so a
        new attempt at the same cart may start; a late payment that revives it later does not
        take the intent back from that attempt."""
        self.conn.execute(
            """
            UPDATE checkouts SET state = %(state)s, updated_at = now(),
                claims_intent = claims_intent AND %(state)s NOT IN ('failed', 'expired', 'refunded')
            WHERE id = %(id)s
            """,
            {"state": state, "id": checkout_id},
        )

    def open_sessions(self, shop_id: str, limit: int = 500) -> list[CheckoutRecord]:
        """Checkouts still waiting for payment that have a Stripe session (for reconcile)."""
        return self._all(
            CheckoutRecord,
            """
            SELECT * FROM checkouts WHERE shop_id = %s AND state IN ('pending', 'open')
              AND stripe_session_id IS NOT NULL
            ORDER BY created_at LIMIT %s
            """,
            (shop_id, limit),
        )

"""Order events: the history of changes to an order (who, what, when, totals before and
after), and the memory that makes a change's ``Idempotency-Key`` replay its answer."""

from __future__ import annotations

from uuid import UUID

from psycopg.types.json import Jsonb
from pydantic import JsonValue

from repos.base import Repository
from schemas.records import OrderActor, OrderEvent


class OrderEventRepository(Repository):
    def add(
        self,
        shop_id: str,
        order_id: UUID,
        kind: str,
        *,
        actor: OrderActor,
        total_before: int,
        total_after: int,
        details: dict[str, JsonValue],
        idempotency_key: str | None = None,
        request_hash: str | None = None,
    ) -> int:
        row = self.conn.execute(
            """
            INSERT INTO order_events (order_id, shop_id, kind, actor, idempotency_key,
                request_hash, total_before, total_after, details)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id
            """,
            (
                order_id,
                shop_id,
                kind,
                actor,
                idempotency_key,
                request_hash,
                total_before,
                total_after,
                Jsonb(details),
            ),
        ).fetchone()
        assert row is not None
        return int(row["id"])

    def by_key(self, order_id: UUID, idempotency_key: str) -> OrderEvent | None:
        return self._one(
            OrderEvent,
            "SELECT * FROM order_events WHERE order_id = %s AND idempotency_key = %s",
            (order_id, idempotency_key),
        )

    def for_order(self, order_id: UUID) -> list[OrderEvent]:
        return self._all(
            OrderEvent, "SELECT * FROM order_events WHERE order_id = %s ORDER BY id", (order_id,)
        )

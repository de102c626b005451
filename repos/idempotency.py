"""Stored answers to merchant writes, per shop and Idempotency-Key, so a replay gets the
first answer instead of doing the write again."""

from __future__ import annotations

from psycopg.types.json import Jsonb
from pydantic import JsonValue

from repos.base import Repository
from schemas.records import IdempotentResponse


class IdempotencyRepository(Repository):
    def lock(self, shop_id: str, key: str) -> None:
        """Serialize writers of one key until the end of the transaction, so a concurrent
        twin waits and then finds the stored answer instead of writing twice."""
        self.conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"{shop_id}\n{key}",)
        )

    def get(self, shop_id: str, key: str) -> IdempotentResponse | None:
        return self._one(
            IdempotentResponse,
            "SELECT fingerprint, status_code, response FROM merchant_idempotency_keys"
            " WHERE shop_id = %s AND key = %s",
            (shop_id, key),
        )

    def save(
        self, shop_id: str, key: str, fingerprint: str, status_code: int, response: JsonValue
    ) -> None:
        self.conn.execute(
            "INSERT INTO merchant_idempotency_keys (shop_id, key, fingerprint, status_code,"
            " response) VALUES (%s, %s, %s, %s, %s)",
            (shop_id, key, fingerprint, status_code, Jsonb(response)),
        )

"""Merchant API keys: only the sha256 of each key's secret is stored, never the key."""

from __future__ import annotations

from repos.base import Repository
from schemas.records import ApiKeyRecord

LAST_USED_RESOLUTION_SECONDS = 60
"""``last_used_at`` is refreshed at most once a minute per key, not written on every call."""


class ApiKeyRepository(Repository):
    def add(self, key_id: str, shop_id: str, name: str, secret_hash: str) -> ApiKeyRecord:
        row = self._one(
            ApiKeyRecord,
            "INSERT INTO api_keys (id, shop_id, name, secret_hash) VALUES (%s, %s, %s, %s)"
            " RETURNING *",
            (key_id, shop_id, name, secret_hash),
        )
        assert row is not None
        return row

    def get(self, key_id: str) -> ApiKeyRecord | None:
        return self._one(ApiKeyRecord, "SELECT * FROM api_keys WHERE id = %s", (key_id,))

    def for_shop(self, shop_id: str | None) -> list[ApiKeyRecord]:
        return self._all(
            ApiKeyRecord,
            "SELECT * FROM api_keys WHERE (%s::text IS NULL OR shop_id = %s)"
            " ORDER BY shop_id, created_at, id",
            (shop_id, shop_id),
        )

    def revoke(self, key_id: str) -> ApiKeyRecord | None:
        """Revoke once; revoking again keeps the first revocation time."""
        return self._one(
            ApiKeyRecord,
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, now()) WHERE id = %s"
            " RETURNING *",
            (key_id,),
        )

    def touch(self, key_id: str) -> None:
        self.conn.execute(
            "UPDATE api_keys SET last_used_at = now() WHERE id = %s AND (last_used_at IS NULL"
            " OR last_used_at < now() - make_interval(secs => %s))",
            (key_id, LAST_USED_RESOLUTION_SECONDS),
        )

"""Audit events: what an operator must be able to see later (price tampering, tenancy, conflicts)."""

from __future__ import annotations

from psycopg.types.json import Jsonb
from pydantic import JsonValue

from repos.base import Repository
from schemas.records import AuditEvent


class AuditRepository(Repository):
    def add(
        self,
        shop_id: str,
        kind: str,
        subject: str | None,
        details: dict[str, JsonValue],
        actor: str | None = None,
    ) -> None:
        self.conn.execute(
            "INSERT INTO audit_events (shop_id, kind, subject, details, actor)"
            " VALUES (%s, %s, %s, %s, %s)",
            (shop_id, kind, subject, Jsonb(details), actor),
        )

    def list(self, shop_id: str, kind: str | None = None) -> list[AuditEvent]:
        return self._all(
            AuditEvent,
            "SELECT * FROM audit_events WHERE shop_id = %s AND (%s::text IS NULL OR kind = %s)"
            " ORDER BY id",
            (shop_id, kind, kind),
        )

"""Events out: the shop's event feed and its webhook endpoints."""

from __future__ import annotations

from uuid import UUID

from psycopg import Connection
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb
from pydantic import JsonValue

from repos.base import Repository
from repos.secrets import SecretBox
from schemas.merchant_events import MerchantEvent, WebhookEndpoint


class EndpointRow(WebhookEndpoint):
    secret: str


class MerchantEventRepository(Repository):
    """Endpoint secrets are stored encrypted (``repos.secrets``), like the shops' Stripe
    secrets; they are decrypted only when a delivery is signed."""

    def __init__(self, conn: Connection[DictRow], secrets: SecretBox) -> None:
        super().__init__(conn)
        self._secrets = secrets

    def _open(self, row: EndpointRow | None) -> EndpointRow | None:
        if row is None:
            return None
        return row.model_copy(update={"secret": self._secrets.decrypt(row.secret)})

    def add(
        self, event_id: str, shop_id: str, event_type: str, data: dict[str, JsonValue]
    ) -> list[UUID]:
        """Record the event and return the shop's active endpoints that want its type (an
        empty list of types: all), oldest first: one statement, since every event is
        delivered to exactly those."""
        rows = self.conn.execute(
            """
            WITH event AS (
                INSERT INTO merchant_events (id, shop_id, type, data) VALUES (%s, %s, %s, %s))
            SELECT id FROM merchant_webhook_endpoints
            WHERE shop_id = %s AND active AND (event_types = '{}' OR %s = ANY(event_types))
            ORDER BY created_at
            """,
            (event_id, shop_id, event_type, Jsonb(data), shop_id, event_type),
        ).fetchall()
        return [r["id"] for r in rows]

    def get(self, event_id: str) -> MerchantEvent | None:
        return self._one(MerchantEvent, "SELECT * FROM merchant_events WHERE id = %s", (event_id,))

    def after(self, shop_id: str, seq: int, limit: int) -> list[MerchantEvent]:
        return self._all(
            MerchantEvent,
            "SELECT * FROM merchant_events WHERE shop_id = %s AND seq > %s ORDER BY seq LIMIT %s",
            (shop_id, seq, limit),
        )

    def add_endpoint(self, endpoint: EndpointRow) -> None:
        self.conn.execute(
            """
            INSERT INTO merchant_webhook_endpoints (id, shop_id, url, secret, event_types, active)
            VALUES (%s, %s, %s, %s, %s, %s)
            """,
            (
                endpoint.id,
                endpoint.shop_id,
                endpoint.url,
                self._secrets.encrypt(endpoint.secret),
                endpoint.event_types,
                endpoint.active,
            ),
        )

    def endpoint(self, shop_id: str, endpoint_id: UUID) -> EndpointRow | None:
        """The endpoint with its secret decrypted, for signing a delivery."""
        return self._open(
            self._one(
                EndpointRow,
                "SELECT * FROM merchant_webhook_endpoints WHERE shop_id = %s AND id = %s",
                (shop_id, endpoint_id),
            )
        )

    def endpoints(self, shop_id: str) -> list[WebhookEndpoint]:
        """The shop's endpoints, without their secrets."""
        return self._all(
            WebhookEndpoint,
            "SELECT * FROM merchant_webhook_endpoints WHERE shop_id = %s ORDER BY created_at",
            (shop_id,),
        )

    def deactivate(self, shop_id: str, endpoint_id: UUID) -> bool:
        cur = self.conn.execute(
            "UPDATE merchant_webhook_endpoints SET active = false WHERE shop_id = %s AND id = %s",
            (shop_id, endpoint_id),
        )
        return cur.rowcount == 1

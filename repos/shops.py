"""Tenants. Every other query is scoped by a shop id that was first looked up here."""

from __future__ import annotations

from repos.base import Repository
from schemas.records import Shop


class ShopRepository(Repository):
    def get(self, shop_id: str) -> Shop | None:
        return self._one(Shop, "SELECT * FROM shops WHERE id = %s", (shop_id,))

    def ids(self) -> list[str]:
        return [r["id"] for r in self.conn.execute("SELECT id FROM shops ORDER BY id").fetchall()]

    def upsert(self, shop: Shop) -> None:
        self.conn.execute(
            """
            INSERT INTO shops (id, name, currency, stripe_api_key, stripe_webhook_secret,
                               storefront_url, hold_ttl_seconds, capture_mode,
                               capture_window_seconds, checkout_rate_limit)
            VALUES (%(id)s, %(name)s, %(currency)s, %(stripe_api_key)s, %(stripe_webhook_secret)s,
                    %(storefront_url)s, %(hold_ttl_seconds)s, %(capture_mode)s,
                    %(capture_window_seconds)s, %(checkout_rate_limit)s)
            ON CONFLICT (id) DO UPDATE SET
                name = EXCLUDED.name, currency = EXCLUDED.currency,
                stripe_api_key = EXCLUDED.stripe_api_key,
                stripe_webhook_secret = COALESCE(EXCLUDED.stripe_webhook_secret,
                                                 shops.stripe_webhook_secret),
                storefront_url = EXCLUDED.storefront_url,
                hold_ttl_seconds = EXCLUDED.hold_ttl_seconds,
                capture_mode = EXCLUDED.capture_mode,
                capture_window_seconds = EXCLUDED.capture_window_seconds,
                checkout_rate_limit = EXCLUDED.checkout_rate_limit
            """,
            shop.model_dump(),
        )

    def set_webhook_secret(self, shop_id: str, secret: str) -> None:
        self.conn.execute(
            "UPDATE shops SET stripe_webhook_secret = %s WHERE id = %s", (secret, shop_id)
        )

    def currency_exponent(self, currency: str) -> int | None:
        return self.currency_exponents().get(currency)

    def currency_exponents(self) -> dict[str, int]:
        rows = self.conn.execute("SELECT code, exponent FROM currencies").fetchall()
        return {r["code"]: int(r["exponent"]) for r in rows}

"""Tenants. Every other query is scoped by a shop id that was first looked up here.

Stripe keys and webhook secrets exist in clear only in memory: they are written as Fernet
ciphertexts (repos/secrets.py) and decrypted on read. Rows from before encryption keep
their value in a ``plaintext_*`` column until ``reencrypt`` moves it (``kassa migrate``).
"""

from __future__ import annotations

from typing import Any

from psycopg import Connection
from psycopg.rows import DictRow

from repos.base import Repository, locking
from repos.secrets import SecretBox
from schemas.records import Shop, ShopProfile

_PROFILE = (
    "id, name, currency, storefront_url, hold_ttl_seconds, capture_mode,"
    " capture_window_seconds, checkout_rate_limit, low_stock_threshold"
)


class ShopRepository(Repository):
    def __init__(self, conn: Connection[DictRow], secrets: SecretBox) -> None:
        super().__init__(conn)
        self.secrets = secrets
        self.changed: set[str] = set()
        """Shops written in this unit of work: the unit tells the shop cache after commit."""

    def _reveal(self, ciphertext: str | None, plaintext: str | None) -> str | None:
        return self.secrets.decrypt(ciphertext) if ciphertext is not None else plaintext

    def _shop(self, row: DictRow) -> Shop:
        return Shop.model_validate(
            {
                **row,
                "stripe_api_key": self._reveal(
                    row["stripe_api_key_ciphertext"], row["plaintext_stripe_api_key"]
                ),
                "stripe_webhook_secret": self._reveal(
                    row["stripe_webhook_secret_ciphertext"], row["plaintext_stripe_webhook_secret"]
                ),
            }
        )

    def get(self, shop_id: str, *, lock: bool = False) -> Shop | None:
        row = self.conn.execute(
            locking("SELECT * FROM shops WHERE id = %s", lock), (shop_id,)
        ).fetchone()
        return self._shop(row) if row is not None else None

    def exists(self, shop_id: str) -> bool:
        return (
            self.conn.execute("SELECT 1 FROM shops WHERE id = %s", (shop_id,)).fetchone()
            is not None
        )

    def ids(self) -> list[str]:
        return [r["id"] for r in self.conn.execute("SELECT id FROM shops ORDER BY id").fetchall()]

    def profiles(self) -> list[tuple[ShopProfile, bool]]:
        """Every shop without secrets, and whether it has a webhook secret configured."""
        rows = self.conn.execute(
            f"SELECT {_PROFILE}, (stripe_webhook_secret_ciphertext IS NOT NULL"  # noqa: S608
            " OR plaintext_stripe_webhook_secret IS NOT NULL) AS has_webhook_secret"
            " FROM shops ORDER BY id"
        ).fetchall()
        return [(ShopProfile.model_validate(r), bool(r["has_webhook_secret"])) for r in rows]

    def _params(self, shop: Shop) -> dict[str, Any]:
        secret = shop.stripe_webhook_secret
        return {
            **shop.model_dump(exclude={"stripe_api_key", "stripe_webhook_secret"}),
            "api_key": self.secrets.encrypt(shop.stripe_api_key),
            "webhook_secret": self.secrets.encrypt(secret) if secret is not None else None,
        }

    def insert(self, shop: Shop) -> bool:
        """Create the shop; False (and nothing written) if the id is taken."""
        row = self.conn.execute(
            """
            INSERT INTO shops (id, name, currency, stripe_api_key_ciphertext,
                               stripe_webhook_secret_ciphertext, storefront_url,
                               hold_ttl_seconds, capture_mode, capture_window_seconds,
                               checkout_rate_limit, low_stock_threshold)
            VALUES (%(id)s, %(name)s, %(currency)s, %(api_key)s, %(webhook_secret)s,
                    %(storefront_url)s, %(hold_ttl_seconds)s, %(capture_mode)s,
                    %(capture_window_seconds)s, %(checkout_rate_limit)s,
                    %(low_stock_threshold)s)
            ON CONFLICT (id) DO NOTHING RETURNING id
            """,
            self._params(shop),
        ).fetchone()
        self.changed.add(shop.id)
        return row is not None

    def upsert(self, shop: Shop) -> None:
        """Create or replace the shop; a ``None`` webhook secret keeps the one stored."""
        self.conn.execute(
            """
            INSERT INTO shops (id, name, currency, stripe_api_key_ciphertext,
                               stripe_webhook_secret_ciphertext, storefront_url,
                               hold_ttl_seconds, capture_mode, capture_window_seconds,
                               checkout_rate_limit, low_stock_threshold)
            VALUES (%(id)s, %(name)s, %(currency)s, %(api_key)s, %(webhook_secret)s,
                    %(storefront_url)s, %(hold_ttl_seconds)s, %(capture_mode)s,
                    %(capture_window_seconds)s, %(checkout_rate_limit)s,
                    %(low_stock_threshold)s)
            ON CONFLICT (id) DO UPDATE SET
                name = EXCLUDED.name, currency = EXCLUDED.currency,
                stripe_api_key_ciphertext = EXCLUDED.stripe_api_key_ciphertext,
                plaintext_stripe_api_key = NULL,
                stripe_webhook_secret_ciphertext = COALESCE(
                    EXCLUDED.stripe_webhook_secret_ciphertext,
                    shops.stripe_webhook_secret_ciphertext),
                plaintext_stripe_webhook_secret = CASE
                    WHEN EXCLUDED.stripe_webhook_secret_ciphertext IS NULL
                    THEN shops.plaintext_stripe_webhook_secret END,
                storefront_url = EXCLUDED.storefront_url,
                hold_ttl_seconds = EXCLUDED.hold_ttl_seconds,
                capture_mode = EXCLUDED.capture_mode,
                capture_window_seconds = EXCLUDED.capture_window_seconds,
                checkout_rate_limit = EXCLUDED.checkout_rate_limit,
                low_stock_threshold = EXCLUDED.low_stock_threshold
            """,
            self._params(shop),
        )
        self.changed.add(shop.id)

    def set_webhook_secret(self, shop_id: str, secret: str | None) -> None:
        """Store (or, with None, clear) the shop's Stripe webhook signing secret."""
        self.conn.execute(
            "UPDATE shops SET stripe_webhook_secret_ciphertext = %s,"
            " plaintext_stripe_webhook_secret = NULL WHERE id = %s",
            (self.secrets.encrypt(secret) if secret is not None else None, shop_id),
        )
        self.changed.add(shop_id)

    def reencrypt(self, *, only_plaintext: bool = False) -> int:
        """Encrypt any value still in clear and (unless ``only_plaintext``) re-encrypt every
        ciphertext under the first key. Rows are locked in id order; returns how many."""
        rows = self.conn.execute(
            "SELECT id, plaintext_stripe_api_key, stripe_api_key_ciphertext,"
            " plaintext_stripe_webhook_secret, stripe_webhook_secret_ciphertext FROM shops"
            " WHERE NOT %s OR plaintext_stripe_api_key IS NOT NULL"
            " OR plaintext_stripe_webhook_secret IS NOT NULL ORDER BY id FOR UPDATE",
            (only_plaintext,),
        ).fetchall()
        for r in rows:
            api_key = self._reveal(r["stripe_api_key_ciphertext"], r["plaintext_stripe_api_key"])
            secret = self._reveal(
                r["stripe_webhook_secret_ciphertext"], r["plaintext_stripe_webhook_secret"]
            )
            assert api_key is not None  # the table's check constraint
            self.conn.execute(
                "UPDATE shops SET stripe_api_key_ciphertext = %s,"
                " stripe_webhook_secret_ciphertext = %s,"
                " plaintext_stripe_api_key = NULL, plaintext_stripe_webhook_secret = NULL"
                " WHERE id = %s",
                (
                    self.secrets.encrypt(api_key),
                    self.secrets.encrypt(secret) if secret is not None else None,
                    r["id"],
                ),
            )
        return len(rows)

    def currency_exponent(self, currency: str) -> int | None:
        return self.currency_exponents().get(currency)

    def currency_exponents(self) -> dict[str, int]:
        rows = self.conn.execute("SELECT code, exponent FROM currencies").fetchall()
        return {r["code"]: int(r["exponent"]) for r in rows}

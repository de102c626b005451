"""Products, shipping options and coupons: the price authority. Clients never set a price."""

from __future__ import annotations

import json

from psycopg.types.json import Jsonb

from repos.base import Repository, locking
from schemas.records import Coupon, Product, ShippingOption


class CatalogRepository(Repository):
    def products_with_availability(self, shop_id: str) -> list[tuple[Product, int]]:
        rows = self.conn.execute(
            """
            SELECT p.*, COALESCE(SUM(il.on_hand - il.reserved), 0)::bigint AS available
            FROM products p
            LEFT JOIN inventory_levels il ON il.shop_id = p.shop_id AND il.sku = p.sku
            WHERE p.shop_id = %s AND p.active
            GROUP BY p.shop_id, p.sku
            ORDER BY p.product_code, p.sku
            """,
            (shop_id,),
        ).fetchall()
        return [(Product.model_validate(r), int(r["available"])) for r in rows]

    def products(self, shop_id: str, skus: list[str]) -> dict[str, Product]:
        found = self._all(
            Product,
            "SELECT * FROM products WHERE shop_id = %s AND sku = ANY(%s) AND active",
            (shop_id, skus),
        )
        return {p.sku: p for p in found}

    def shipping_option(self, shop_id: str, option_id: str) -> ShippingOption | None:
        return self._one(
            ShippingOption,
            "SELECT * FROM shipping_options WHERE shop_id = %s AND id = %s AND active",
            (shop_id, option_id),
        )

    def shipping_options(self, shop_id: str) -> list[ShippingOption]:
        return self._all(
            ShippingOption,
            "SELECT * FROM shipping_options WHERE shop_id = %s AND active ORDER BY amount DESC, id",
            (shop_id,),
        )

    def coupon(self, shop_id: str, code: str, *, active_only: bool = True) -> Coupon | None:
        """A coupon by code; ``active_only=False`` also finds one retired since an order
        used it (a placed order keeps the coupon it was sold with)."""
        return self._one(
            Coupon,
            "SELECT * FROM coupons WHERE shop_id = %s AND code = %s AND (active OR NOT %s)",
            (shop_id, code, active_only),
        )

    def upsert_product(self, product: Product) -> None:
        self.conn.execute(
            """
            INSERT INTO products (shop_id, sku, product_code, name, attributes, unit_amount,
                                  currency, active)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
            ON CONFLICT (shop_id, sku) DO UPDATE SET
                product_code = EXCLUDED.product_code, name = EXCLUDED.name,
                attributes = EXCLUDED.attributes, unit_amount = EXCLUDED.unit_amount,
                currency = EXCLUDED.currency, active = EXCLUDED.active
            """,
            (
                product.shop_id,
                product.sku,
                product.product_code,
                product.name,
                Jsonb(product.attributes),
                product.unit_amount,
                product.currency,
                product.active,
            ),
        )

    def upsert_shipping_option(self, shop_id: str, option: ShippingOption) -> None:
        self.upsert_shipping_options(shop_id, [option])

    def upsert_shipping_options(self, shop_id: str, options: list[ShippingOption]) -> None:
        self.conn.cursor().executemany(
            """
            INSERT INTO shipping_options (shop_id, id, name, amount, active)
            VALUES (%s, %s, %s, %s, %s)
            ON CONFLICT (shop_id, id) DO UPDATE SET
                name = EXCLUDED.name, amount = EXCLUDED.amount, active = EXCLUDED.active
            """,
            [(shop_id, o.id, o.name, o.amount, o.active) for o in options],
        )

    def upsert_coupon(self, shop_id: str, coupon: Coupon) -> None:
        self.upsert_coupons(shop_id, [coupon])

    def upsert_coupons(self, shop_id: str, coupons: list[Coupon]) -> None:
        self.conn.cursor().executemany(
            """
            INSERT INTO coupons (shop_id, code, percent_off, amount_off, active)
            VALUES (%s, %s, %s, %s, %s)
            ON CONFLICT (shop_id, code) DO UPDATE SET
                percent_off = EXCLUDED.percent_off, amount_off = EXCLUDED.amount_off,
                active = EXCLUDED.active
            """,
            [(shop_id, c.code, c.percent_off, c.amount_off, c.active) for c in coupons],
        )

    # --- the merchant's view: inactive rows included -----------------------------------

    def product(self, shop_id: str, sku: str, *, lock: bool = False) -> Product | None:
        return self._one(
            Product,
            locking("SELECT * FROM products WHERE shop_id = %s AND sku = %s", lock),
            (shop_id, sku),
        )

    def product_page(self, shop_id: str, after: str | None, limit: int) -> list[Product]:
        """Products in SKU order after the cursor (the primary key serves the scan). The
        first page is after "" (no SKU is empty): one condition that a prepared statement's
        generic plan still reads from the index, unlike ``%s IS NULL OR sku > %s``."""
        return self._all(
            Product,
            "SELECT * FROM products WHERE shop_id = %s AND sku > %s ORDER BY sku LIMIT %s",
            (shop_id, after or "", limit),
        )

    def any_shipping_option(
        self, shop_id: str, option_id: str, *, lock: bool = False
    ) -> ShippingOption | None:
        return self._one(
            ShippingOption,
            locking("SELECT * FROM shipping_options WHERE shop_id = %s AND id = %s", lock),
            (shop_id, option_id),
        )

    def all_shipping_options(self, shop_id: str) -> list[ShippingOption]:
        return self._all(
            ShippingOption,
            "SELECT * FROM shipping_options WHERE shop_id = %s ORDER BY id",
            (shop_id,),
        )

    def any_coupon(self, shop_id: str, code: str, *, lock: bool = False) -> Coupon | None:
        return self._one(
            Coupon,
            locking("SELECT * FROM coupons WHERE shop_id = %s AND code = %s", lock),
            (shop_id, code),
        )

    def all_coupons(self, shop_id: str) -> list[Coupon]:
        return self._all(
            Coupon, "SELECT * FROM coupons WHERE shop_id = %s ORDER BY code", (shop_id,)
        )

    def bulk_upsert_products(self, shop_id: str, products: list[Product]) -> None:
        """Many products in one COPY and one upsert: a 10,000-SKU catalog in well under a
        second, where row-by-row statements would take many."""
        self.conn.execute("CREATE TEMP TABLE import_products (LIKE products) ON COMMIT DROP")
        with self.conn.cursor().copy(
            "COPY import_products (shop_id, sku, product_code, name, attributes, unit_amount,"
            " currency, active) FROM STDIN"
        ) as copy:
            for p in products:
                copy.write_row(
                    (
                        shop_id,
                        p.sku,
                        p.product_code,
                        p.name,
                        json.dumps(p.attributes),
                        p.unit_amount,
                        p.currency,
                        p.active,
                    )
                )
        self.conn.execute(
            """
            INSERT INTO products (shop_id, sku, product_code, name, attributes, unit_amount,
                                  currency, active)
            SELECT shop_id, sku, product_code, name, attributes, unit_amount, currency, active
            FROM import_products ORDER BY sku
            ON CONFLICT (shop_id, sku) DO UPDATE SET
                product_code = EXCLUDED.product_code, name = EXCLUDED.name,
                attributes = EXCLUDED.attributes, unit_amount = EXCLUDED.unit_amount,
                currency = EXCLUDED.currency, active = EXCLUDED.active
            """
        )

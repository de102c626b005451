"""Products, shipping options and coupons: the price authority. Clients never set a price."""

from __future__ import annotations

from psycopg.types.json import Jsonb

from repos.base import Repository
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
        self.conn.execute(
            """
            INSERT INTO shipping_options (shop_id, id, name, amount) VALUES (%s, %s, %s, %s)
            ON CONFLICT (shop_id, id) DO UPDATE SET name = EXCLUDED.name, amount = EXCLUDED.amount
            """,
            (shop_id, option.id, option.name, option.amount),
        )

    def upsert_coupon(self, shop_id: str, coupon: Coupon) -> None:
        self.conn.execute(
            """
            INSERT INTO coupons (shop_id, code, percent_off, amount_off) VALUES (%s, %s, %s, %s)
            ON CONFLICT (shop_id, code) DO UPDATE SET
                percent_off = EXCLUDED.percent_off, amount_off = EXCLUDED.amount_off
            """,
            (shop_id, coupon.code, coupon.percent_off, coupon.amount_off),
        )

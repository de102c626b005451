"""Orders, their lines and payment. The only tables that hold customer details."""

from __future__ import annotations

from uuid import UUID

from psycopg.types.json import Jsonb

from repos.base import Repository
from schemas.records import OrderLineRecord, OrderRecord, OrderStatus, PaymentRecord, PricedLine


class OrderRepository(Repository):
    def add(self, order: OrderRecord, lines: list[PricedLine], payment: PaymentRecord) -> None:
        self.conn.execute(
            """
            INSERT INTO orders (id, reference, shop_id, checkout_id, stripe_checkout_session_id,
                status, subtotal, discount, shipping, total, currency, customer_email,
                customer_name, shipping_address, token_hash, created_at)
            VALUES (%(id)s, %(reference)s, %(shop_id)s, %(checkout_id)s,
                %(stripe_checkout_session_id)s, %(status)s, %(subtotal)s, %(discount)s,
                %(shipping)s, %(total)s, %(currency)s, %(customer_email)s, %(customer_name)s,
                %(shipping_address)s, %(token_hash)s, %(created_at)s)
            """,
            {
                **order.model_dump(),
                "shipping_address": Jsonb(order.shipping_address)
                if order.shipping_address is not None
                else None,
            },
        )
        with self.conn.cursor() as cur:
            cur.executemany(
                """INSERT INTO order_lines (order_id, sku, name, quantity, unit_amount, line_total)
                   VALUES (%s, %s, %s, %s, %s, %s)""",
                [
                    (
                        order.id,
                        ln.sku,
                        _display_name(ln),
                        ln.quantity,
                        ln.unit_amount,
                        ln.line_total,
                    )
                    for ln in lines
                ],
            )
        self.conn.execute(
            """INSERT INTO payments (order_id, stripe_payment_intent_id, amount, currency, status,
                   refunded_amount) VALUES (%s, %s, %s, %s, %s, %s)""",
            (
                order.id,
                payment.stripe_payment_intent_id,
                payment.amount,
                payment.currency,
                payment.status,
                payment.refunded_amount,
            ),
        )

    def by_checkout(self, checkout_id: UUID) -> OrderRecord | None:
        return self._one(OrderRecord, "SELECT * FROM orders WHERE checkout_id = %s", (checkout_id,))

    def by_reference(self, shop_id: str, reference: str) -> OrderRecord | None:
        return self._one(
            OrderRecord,
            "SELECT * FROM orders WHERE shop_id = %s AND reference = %s",
            (shop_id, reference),
        )

    def lines(self, order_id: UUID) -> list[OrderLineRecord]:
        return self._all(
            OrderLineRecord,
            "SELECT * FROM order_lines WHERE order_id = %s ORDER BY id",
            (order_id,),
        )

    def payment(self, order_id: UUID) -> PaymentRecord | None:
        return self._one(PaymentRecord, "SELECT * FROM payments WHERE order_id = %s", (order_id,))

    def set_status(self, order_id: UUID, status: OrderStatus) -> None:
        self.conn.execute("UPDATE orders SET status = %s WHERE id = %s", (status, order_id))

    def record_refund(self, order_id: UUID, amount: int) -> None:
        self.conn.execute(
            "UPDATE payments SET refunded_amount = refunded_amount + %s, status = 'refunded'"
            " WHERE order_id = %s",
            (amount, order_id),
        )

    def get(self, order_id: UUID, *, lock: bool = False) -> OrderRecord | None:
        """One order by id; ``lock`` takes the order row lock that capture and changes share."""
        sql = "SELECT * FROM orders WHERE id = %s"
        return self._one(OrderRecord, sql + (" FOR UPDATE" if lock else ""), (order_id,))


def _display_name(line: PricedLine) -> str:
    """What the customer chose, variant included, frozen into the order."""
    return f"{line.name} ({line.variant})" if line.variant else line.name

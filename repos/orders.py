"""Orders, their lines and payments. The only tables that hold customer details."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from psycopg import sql
from psycopg.types.json import Jsonb
from pydantic import JsonValue

from repos.base import Repository
from schemas.records import (
    OrderLineRecord,
    OrderRecord,
    OrderStatus,
    PaymentEvent,
    PaymentEventKind,
    PaymentRecord,
    PricedLine,
)


class OrderRepository(Repository):
    def add(self, order: OrderRecord, lines: list[PricedLine], payment: PaymentRecord) -> None:
        self.conn.execute(
            """
            INSERT INTO orders (id, reference, shop_id, checkout_id, stripe_checkout_session_id,
                status, subtotal, discount, shipping, total, currency, customer_email,
                customer_name, shipping_address, token_hash, created_at, window_seconds)
            VALUES (%(id)s, %(reference)s, %(shop_id)s, %(checkout_id)s,
                %(stripe_checkout_session_id)s, %(status)s, %(subtotal)s, %(discount)s,
                %(shipping)s, %(total)s, %(currency)s, %(customer_email)s, %(customer_name)s,
                %(shipping_address)s, %(token_hash)s, %(created_at)s, %(window_seconds)s)
            """,
            {
                **order.model_dump(),
                "shipping_address": Jsonb(order.shipping_address)
                if order.shipping_address is not None
                else None,
            },
        )
        self.add_lines(order.id, lines)
        self.add_payment(order.id, payment)

    def add_lines(
        self, order_id: UUID, lines: list[PricedLine], checkout_id: UUID | None = None
    ) -> None:
        """Lines paid by the order's own checkout, or (``checkout_id``) by a supplementary one."""
        with self.conn.cursor() as cur:
            cur.executemany(
                """INSERT INTO order_lines
                       (order_id, sku, name, quantity, unit_amount, line_total, checkout_id)
                   VALUES (%s, %s, %s, %s, %s, %s, %s)""",
                [
                    (
                        order_id,
                        ln.sku,
                        ln.display_name,
                        ln.quantity,
                        ln.unit_amount,
                        ln.line_total,
                        checkout_id,
                    )
                    for ln in lines
                ],
            )

    def add_payment(self, order_id: UUID, payment: PaymentRecord) -> None:
        """One more payment of the order, with its first event (authorized or charged), in
        one statement: nothing to read back, so a pipelined transaction does not wait here."""
        kind: PaymentEventKind = "authorized" if payment.capture_method == "manual" else "charged"
        self.conn.execute(
            """WITH payment AS (
                   INSERT INTO payments (order_id, stripe_payment_intent_id, amount, currency,
                       status, refunded_amount, capture_method, captured_amount, checkout_id)
                   VALUES (%(order_id)s, %(pi)s, %(amount)s, %(currency)s, %(status)s,
                       %(refunded)s, %(capture_method)s, %(captured)s, %(checkout_id)s)
                   RETURNING id)
               INSERT INTO payment_events (payment_id, kind, amount, stripe_id)
               SELECT id, %(kind)s, %(amount)s, %(pi)s FROM payment""",
            {
                "order_id": order_id,
                "pi": payment.stripe_payment_intent_id,
                "amount": payment.amount,
                "currency": payment.currency,
                "status": payment.status,
                "refunded": payment.refunded_amount,
                "capture_method": payment.capture_method,
                "captured": payment.captured_amount,
                "checkout_id": payment.checkout_id,
                "kind": kind,
            },
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
        """The order's own payment (the one its checkout made)."""
        return self._one(
            PaymentRecord,
            "SELECT * FROM payments WHERE order_id = %s AND checkout_id IS NULL",
            (order_id,),
        )

    def payments(self, order_id: UUID) -> list[PaymentRecord]:
        """Every payment of the order: its own first, then supplementary ones in order."""
        return self._all(
            PaymentRecord,
            "SELECT * FROM payments WHERE order_id = %s ORDER BY checkout_id IS NOT NULL, id",
            (order_id,),
        )

    def payment_for_checkout(self, checkout_id: UUID) -> PaymentRecord | None:
        return self._one(
            PaymentRecord, "SELECT * FROM payments WHERE checkout_id = %s", (checkout_id,)
        )

    def set_status(self, order_id: UUID, status: OrderStatus) -> None:
        self.conn.execute("UPDATE orders SET status = %s WHERE id = %s", (status, order_id))

    def order_for_intent(self, shop_id: str, payment_intent_id: str) -> UUID | None:
        row = self.conn.execute(
            "SELECT p.order_id FROM payments p JOIN orders o ON o.id = p.order_id"
            " WHERE o.shop_id = %s AND p.stripe_payment_intent_id = %s",
            (shop_id, payment_intent_id),
        ).fetchone()
        return row["order_id"] if row else None

    def settled_payments(
        self, shop_id: str, since: datetime, limit: int
    ) -> list[tuple[str, PaymentRecord]]:
        """(order reference, payment) of payments that moved since ``since`` and have no
        money effect in flight (a capture, void or refund due and not yet done)."""
        rows = self.conn.execute(
            """
            SELECT o.reference, p.* FROM payments p JOIN orders o ON o.id = p.order_id
            WHERE o.shop_id = %(shop)s AND p.updated_at >= %(since)s
              AND p.stripe_payment_intent_id IS NOT NULL
              AND NOT EXISTS (
                SELECT 1 FROM outbox x
                WHERE x.shop_id = %(shop)s AND x.state <> 'done' AND x.available_at <= now()
                  AND x.kind IN ('stripe.capture', 'stripe.void', 'stripe.refund')
                  AND x.payload->>'order_id' = o.id::text)
            ORDER BY p.updated_at DESC LIMIT %(limit)s
            """,
            {"shop": shop_id, "since": since, "limit": limit},
        ).fetchall()
        return [(r["reference"], PaymentRecord.model_validate(r)) for r in rows]

    def payment_events(self, order_id: UUID) -> list[PaymentEvent]:
        return self._all(
            PaymentEvent,
            "SELECT e.* FROM payment_events e JOIN payments p ON p.id = e.payment_id"
            " WHERE p.order_id = %s ORDER BY e.id",
            (order_id,),
        )

    def _payment_event(
        self, payment_id: int, kind: PaymentEventKind, amount: int, stripe_id: str | None
    ) -> None:
        self.conn.execute(
            "INSERT INTO payment_events (payment_id, kind, amount, stripe_id)"
            " VALUES (%s, %s, %s, %s)",
            (payment_id, kind, amount, stripe_id),
        )

    def _update_payment(
        self, order_id: UUID, payment_intent_id: str, assignments: str, params: dict[str, object]
    ) -> int:
        row = self.conn.execute(
            f"UPDATE payments SET {assignments}, updated_at = now()"  # noqa: S608
            " WHERE order_id = %(order)s AND stripe_payment_intent_id = %(pi)s RETURNING id",
            {**params, "order": order_id, "pi": payment_intent_id},
        ).fetchone()
        if row is None:
            raise LookupError(f"no payment {payment_intent_id} for order {order_id}")
        return int(row["id"])

    def _by_intent(self, order_id: UUID, payment_intent_id: str) -> PaymentRecord | None:
        return self._one(
            PaymentRecord,
            "SELECT * FROM payments WHERE order_id = %s AND stripe_payment_intent_id = %s",
            (order_id, payment_intent_id),
        )

    def record_refund(
        self, order_id: UUID, payment_intent_id: str, amount: int, refund_id: str | None = None
    ) -> None:
        payment_id = self._update_payment(
            order_id,
            payment_intent_id,
            "refunded_amount = refunded_amount + %(amount)s, status = 'refunded'",
            {"amount": amount},
        )
        self._payment_event(payment_id, "refunded", amount, refund_id)

    def record_capture(self, order_id: UUID, amount: int, payment_intent_id: str) -> None:
        """Captured ``amount``; Stripe releases the rest of the authorization."""
        payment_id = self._update_payment(
            order_id,
            payment_intent_id,
            "captured_amount = %(amount)s, voided_amount = amount - %(amount)s,"
            " status = 'succeeded'",
            {"amount": amount},
        )
        self._payment_event(payment_id, "captured", amount, payment_intent_id)
        payment = self._by_intent(order_id, payment_intent_id)
        if payment is not None and payment.voided_amount:
            self._payment_event(payment_id, "voided", payment.voided_amount, payment_intent_id)

    def record_void(
        self, order_id: UUID, payment_intent_id: str, kind: PaymentEventKind = "voided"
    ) -> bool:
        """The authorization was cancelled (by us, or lapsed at Stripe): nothing is owed.
        Recorded once: a payment already ``canceled`` is left as it is (False)."""
        before = self._by_intent(order_id, payment_intent_id)
        if before is None or before.status == "canceled":
            return False
        payment_id = self._update_payment(
            order_id,
            payment_intent_id,
            "voided_amount = amount - captured_amount, status = 'canceled'",
            {},
        )
        payment = self._by_intent(order_id, payment_intent_id)
        assert payment is not None
        self._payment_event(payment_id, kind, payment.voided_amount, payment_intent_id)
        return True

    def lock_by_reference(self, shop_id: str, reference: str) -> OrderRecord | None:
        """The order row lock that capture and every change take (one at a time per order)."""
        return self._one(
            OrderRecord,
            "SELECT * FROM orders WHERE shop_id = %s AND reference = %s FOR UPDATE",
            (shop_id, reference),
        )

    def set_totals(
        self, order_id: UUID, *, subtotal: int, discount: int, shipping: int, total: int
    ) -> None:
        self.conn.execute(
            "UPDATE orders SET subtotal = %s, discount = %s, shipping = %s, total = %s"
            " WHERE id = %s",
            (subtotal, discount, shipping, total, order_id),
        )

    def set_line_quantity(self, line_id: int, quantity: int) -> None:
        """A new quantity for one line; 0 removes it."""
        if quantity == 0:
            self.conn.execute("DELETE FROM order_lines WHERE id = %s", (line_id,))
            return
        self.conn.execute(
            "UPDATE order_lines SET quantity = %s, line_total = unit_amount * %s WHERE id = %s",
            (quantity, quantity, line_id),
        )

    def set_shipping_address(self, order_id: UUID, address: dict[str, JsonValue]) -> None:
        self.conn.execute(
            "UPDATE orders SET shipping_address = %s WHERE id = %s", (Jsonb(address), order_id)
        )

    def page(
        self,
        shop_id: str,
        *,
        status: str | None = None,
        reference: str | None = None,
        created_from: datetime | None = None,
        created_to: datetime | None = None,
        before: tuple[datetime, UUID] | None = None,
        limit: int = 50,
    ) -> list[OrderRecord]:
        """Newest first; ``before`` is the (created_at, id) of the last order of the previous
        page (keyset pagination on the orders_shop_recent / _status_recent indexes).

        Only the filters given are in the statement: a ``%s IS NULL OR …`` form would be one
        statement for every combination, and once psycopg prepares it, Postgres's generic
        plan can use none of them as an index condition (deep pages would filter through
        every newer order, a status list would not use its index)."""
        params: dict[str, object] = {"shop": shop_id, "limit": limit}
        where = [sql.SQL("shop_id = %(shop)s")]
        for name, value, condition in (
            ("status", status, "status = %(status)s"),
            ("ref", reference, "reference = %(ref)s"),
            ("from", created_from, "created_at >= %(from)s"),
            ("to", created_to, "created_at < %(to)s"),
        ):
            if value is not None:
                params[name] = value
                where.append(sql.SQL(condition))
        if before is not None:
            params["bt"], params["bid"] = before
            where.append(sql.SQL("(created_at, id) < (%(bt)s, %(bid)s)"))
        return self._all(
            OrderRecord,
            sql.SQL(
                "SELECT * FROM orders WHERE {} ORDER BY created_at DESC, id DESC LIMIT %(limit)s"
            ).format(sql.SQL(" AND ").join(where)),
            params,
        )

    def mark_fulfilled(self, order_id: UUID, tracking_reference: str) -> None:
        self.conn.execute(
            "UPDATE orders SET status = 'fulfilled', fulfilled_at = now(),"
            " tracking_reference = %s WHERE id = %s",
            (tracking_reference, order_id),
        )

    def get(self, order_id: UUID, *, lock: bool = False) -> OrderRecord | None:
        """One order by id; ``lock`` takes the order row lock that capture and changes share."""
        sql = "SELECT * FROM orders WHERE id = %s"
        return self._one(OrderRecord, sql + (" FOR UPDATE" if lock else ""), (order_id,))

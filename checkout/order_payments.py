"""How an order's total splits between its payments.

An order has its own payment and one more for every batch of items added during the
window (a supplementary Checkout Session). The rule is simple and never moves money
between PaymentIntents: each payment pays for its own lines. A supplementary payment owes
the current total of the lines it added (they carry no coupon and no shipping); the
order's own payment owes the rest of the order's total (its lines, repriced with the
order's coupon, plus shipping). Lowering a line therefore lowers the payment that paid for
it, and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from repos.unit_of_work import UnitOfWork
from schemas.records import OrderLineRecord, OrderRecord, PaymentRecord


@dataclass(frozen=True)
class Owed:
    payment: PaymentRecord
    amount: int


def line_checkout(order: OrderRecord, line: OrderLineRecord) -> UUID:
    """The checkout whose holds the line's units came from (and whose payment paid for it)."""
    return line.checkout_id or order.checkout_id


def added_totals(lines: list[OrderLineRecord]) -> dict[UUID, int]:
    """The current total of the lines each supplementary checkout added."""
    totals: dict[UUID, int] = {}
    for ln in lines:
        if ln.checkout_id is not None:
            totals[ln.checkout_id] = totals.get(ln.checkout_id, 0) + ln.line_total
    return totals


def owed_in(uow: UnitOfWork, order: OrderRecord) -> list[Owed]:
    """Every payment of the order with what it owes now, the order's own payment first."""
    added = added_totals(uow.orders.lines(order.id))
    return [
        Owed(
            p,
            order.total - sum(added.values())
            if p.checkout_id is None
            else added.get(p.checkout_id, 0),
        )
        for p in uow.orders.payments(order.id)
    ]


def key_suffix(payment: PaymentRecord) -> str:
    """Dedupe keys of a supplementary payment's effects; the order's own keep their names."""
    return "" if payment.checkout_id is None else f"-{payment.checkout_id}"

"""Capture at the end of the modification window, never interleaved with a change.

Capture is two short transactions around one Stripe call. The first takes the order row
lock (the lock every change takes), reads the total and marks the order ``capturing``, and
commits: from then on every change finds the window closed, so the amount cannot move
under the Stripe call. The second records the capture. A crash between them leaves the
order ``capturing``, and the retried job captures the same amount with the same
idempotency key, which Stripe answers with the first result.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from uuid import UUID

from prometheus_client import Counter

from checkout.modifications import cancel_in, record_in
from checkout.order_payments import key_suffix, owed_in
from checkout.ports import Services
from repos.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

CAPTURE_FAILURES = Counter(
    "kassa_capture_failures_total",
    "Authorized orders whose payment could not be captured (authorization expired, "
    "cancelled at Stripe, refused): stock returned, order marked capture_failed",
    ["reason"],
)


@dataclass(frozen=True)
class ToCapture:
    """One authorization to settle: capture ``amount`` (or void it when nothing is owed)."""

    payment_intent_id: str
    amount: int
    key_suffix: str


def begin_capture(services: Services, shop_id: str, order_id: UUID) -> list[ToCapture] | None:
    """Close the window for good and return what each authorization of the order owes
    (its own and any supplementary one; see checkout.order_payments), or None if there is
    nothing to capture (cancelled, already captured or failed)."""
    with services.uow() as uow:
        order = uow.orders.get(order_id, lock=True)
        if order is None or order.shop_id != shop_id:
            return None
        if order.status == "authorized":
            uow.orders.set_status(order.id, "capturing")
        elif order.status != "capturing":
            log.info(
                "capture skipped",
                extra={"order_ref": order.reference, "order_status": order.status},
            )
            return None
        return [
            ToCapture(o.payment.stripe_payment_intent_id, o.amount, key_suffix(o.payment))
            for o in owed_in(uow, order)
            if o.payment.stripe_payment_intent_id and o.payment.capture_method == "manual"
        ]


def finish_capture_in(uow: UnitOfWork, order_id: UUID, captured: list[ToCapture]) -> None:
    order = uow.orders.get(order_id, lock=True)
    assert order is not None
    uow.orders.set_status(order.id, "captured")
    record_captures_in(uow, order_id, captured)
    log.info(
        "payment captured",
        extra={"order_ref": order.reference, "amount": sum(c.amount for c in captured)},
    )


def record_captures_in(uow: UnitOfWork, order_id: UUID, captured: list[ToCapture]) -> None:
    """What Stripe captured (an authorization that owed nothing was voided instead)."""
    for c in captured:
        if c.amount:
            uow.orders.record_capture(order_id, c.amount, c.payment_intent_id)
        else:
            uow.orders.record_void(order_id, c.payment_intent_id)


def fail_capture_in(uow: UnitOfWork, order_id: UUID, reason: str, *, gone: str | None) -> bool:
    """The authorization is gone (expired, cancelled at Stripe, refused): the order must
    not look paid. Stock goes back, the order becomes ``capture_failed``, the customer is
    told, and ops see a metric and an audit row. False if there was nothing to fail.
    ``gone`` is the PaymentIntent Stripe already cancelled; every other authorization of
    the order is voided.
    A payment of the order that was captured already is refunded by the cancel."""
    order = uow.orders.get(order_id, lock=True)
    if order is None or order.status not in ("authorized", "capturing"):
        return False
    change = cancel_in(uow, order, kind="capture_failed", gone=gone, email="capture_failed")
    uow.orders.set_status(order.id, "capture_failed")
    for payment in uow.orders.payments(order.id):
        if payment.stripe_payment_intent_id and payment.captured_amount == 0:
            uow.orders.record_void(order.id, payment.stripe_payment_intent_id, "capture_failed")
    record_in(uow, order, change, "system")
    uow.audit.add(order.shop_id, "capture_failed", order.reference, {"reason": reason})
    CAPTURE_FAILURES.labels(reason).inc()
    log.warning("capture failed", extra={"order_ref": order.reference, "reason": reason})
    return True


def payment_cancelled_in(uow: UnitOfWork, shop_id: str, pi: str) -> str:
    """``payment_intent.canceled``: Stripe dropped an authorization (it lapsed after 7
    days, or someone cancelled it in the dashboard). Ours to record only if the order was
    still waiting for capture; a void we asked for finds the order already cancelled.

    An authorization that owes nothing is no loss: the capture job voids it itself, and
    this may be the webhook of that very void, arriving while the order is ``capturing``
    (before the job records its captures, or after the job died there). It is recorded
    as voided and the order goes on to be captured."""
    order_id = uow.orders.order_for_intent(shop_id, pi)
    if order_id is None:
        return "unknown_payment"
    order = uow.orders.get(order_id, lock=True)
    assert order is not None
    owed = [o.amount for o in owed_in(uow, order) if o.payment.stripe_payment_intent_id == pi]
    if owed == [0]:
        uow.orders.record_void(order.id, pi)
        return "already_settled"
    failed = fail_capture_in(uow, order_id, "canceled_at_stripe", gone=pi)
    return "capture_failed" if failed else "already_settled"

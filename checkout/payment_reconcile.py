"""Payment rows against Stripe: what ``kassa reconcile`` checks for PAY-01.

A payment row says what Stripe should show for its PaymentIntent: captured (``succeeded``
with ``amount_received`` equal to our captured amount), voided (``canceled``) or still
authorized (``requires_capture``). Rows with a capture, void or refund in flight are
skipped, since they are about to change. Drift is reported, not repaired: a mismatch in
money is for a person to look at (a capture stuck in ``capturing`` whose row is dead, a
PaymentIntent changed in the Dashboard).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from checkout.ports import PaymentProviderError, Services
from schemas.ops import PaymentDrift
from schemas.records import PaymentRecord

log = logging.getLogger(__name__)

LOOKBACK = timedelta(days=8)
"""Longer than an authorization lives (7 days): older rows have settled for good."""
BATCH = 200


def expected_at_stripe(payment: PaymentRecord) -> tuple[str, int]:
    """The PaymentIntent status and amount received our row implies."""
    if payment.captured_amount:
        return "succeeded", payment.captured_amount
    if payment.voided_amount:
        return "canceled", 0
    return "requires_capture", 0


def reconcile_payments(services: Services, shop_id: str) -> tuple[int, list[PaymentDrift]]:
    with services.uow() as uow:
        shop = uow.shops.get(shop_id)
        rows = uow.orders.settled_payments(shop_id, datetime.now(UTC) - LOOKBACK, BATCH)
    if shop is None:
        return 0, []
    drift: list[PaymentDrift] = []
    for reference, payment in rows:
        assert payment.stripe_payment_intent_id is not None
        try:
            intent = services.payments.retrieve_payment_intent(
                shop, payment.stripe_payment_intent_id
            )
        except PaymentProviderError:
            log.warning("payment not checked", extra={"shop_id": shop_id, "order_ref": reference})
            continue
        status, received = expected_at_stripe(payment)
        if (intent.status, intent.amount_received) != (status, received):
            drift.append(
                PaymentDrift(
                    shop_id=shop_id,
                    order_reference=reference,
                    payment_intent_id=intent.id,
                    ours=f"{status} {received}",
                    stripe=f"{intent.status} {intent.amount_received}",
                )
            )
            log.warning(
                "payment drifted from Stripe",
                extra={"shop_id": shop_id, "order_ref": reference, "stripe_status": intent.status},
            )
    return len(rows), drift

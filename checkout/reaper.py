"""Release holds whose time ran out, and make their Stripe sessions unpayable.

Run by ``kassa reap`` and periodically by every worker process. Safe to run anywhere
and concurrently: each checkout is handled in its own transaction under its row lock,
holds are finished only while active, and the expire message has a dedupe key.
"""

from __future__ import annotations

import logging
from datetime import datetime
from uuid import UUID

from checkout.lifecycle import is_live, release_in
from checkout.ports import Services
from schemas.outbox import ExpireSession

log = logging.getLogger(__name__)

BATCH = 100


def expire_key(checkout_id: UUID) -> str:
    return f"checkout-{checkout_id}-expire"


def reap(services: Services, now: datetime, *, batch: int = BATCH) -> int:
    """Release every hold that lapsed before ``now``; returns how many checkouts were reaped."""
    reaped = 0
    while True:
        with services.uow() as tx:
            lapsed = tx.inventory.lapsed_checkouts(now, batch)
        released = sum(_reap_one(services, shop_id, checkout_id) for shop_id, checkout_id in lapsed)
        reaped += released
        if len(lapsed) < batch or released == 0:
            return reaped


def _reap_one(services: Services, shop_id: str, checkout_id: UUID) -> int:
    with services.uow() as tx:
        checkout = tx.checkouts.get(shop_id, checkout_id, lock=True)
        if checkout is None:  # pragma: no cover - retention deletes no checkout with an active hold
            return 0
        if not release_in(tx, checkout, "expired", holds="expired"):
            return 0  # another reaper, or the flow that moved the checkout, was first
        if is_live(checkout) and checkout.stripe_session_id:
            message = ExpireSession(
                shop_id=shop_id, checkout_id=checkout.id, session_id=checkout.stripe_session_id
            )
            tx.outbox.add_message(message, expire_key(checkout.id))
    log.info("checkout expired", extra={"shop_id": shop_id, "checkout_id": str(checkout.id)})
    return 1

"""``kassa reconcile``: find where the copies drifted from the truth, repair, and report.

1. The Redis stock mirror against on-hand units in Postgres, per shop. A repair marks
   every not-yet-done mirror decrement as applied (its sale is already in ``on_hand``)
   and then replaces the mirror, so an in-flight job cannot subtract the sale twice.
2. Stripe sessions that were paid while we have no order (a webhook lost for good, and
   no visit to the success page): fulfilled now, through the same fulfilment service.
"""

from __future__ import annotations

import logging

from pydantic import BaseModel, Field

from checkout.fulfilment import fulfil_session
from checkout.ports import PaymentProviderError, Services
from schemas.outbox import StockMirrorDecrement

log = logging.getLogger(__name__)

DECREMENT_KIND: str = StockMirrorDecrement.model_fields["kind"].default


class SkuDrift(BaseModel):
    sku: str
    mirror: int | None
    postgres: int | None


class MirrorReport(BaseModel):
    shop_id: str
    drift: list[SkuDrift]
    repaired: bool


class SessionReport(BaseModel):
    shop_id: str
    checkout_id: str
    session_id: str
    outcome: str
    order_reference: str | None = None


class ReconcileReport(BaseModel):
    mirrors: list[MirrorReport] = Field(default_factory=list)
    sessions_checked: int = 0
    sessions: list[SessionReport] = Field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not any(m.drift for m in self.mirrors) and not self.sessions


def reconcile(
    services: Services, *, repair: bool = True, stock: bool = True, sessions: bool = True
) -> ReconcileReport:
    with services.uow() as uow:
        shop_ids = uow.shops.ids()
    report = ReconcileReport()
    for shop_id in shop_ids:
        if stock:
            report.mirrors.append(reconcile_mirror(services, shop_id, repair=repair))
        if sessions:
            checked, found = reconcile_sessions(services, shop_id, repair=repair)
            report.sessions_checked += checked
            report.sessions += found
    return report


def reconcile_mirror(services: Services, shop_id: str, *, repair: bool = True) -> MirrorReport:
    with services.uow() as uow:
        levels, unmirrored = uow.inventory.mirror_snapshot(shop_id, DECREMENT_KIND)
    mirror = services.mirror.levels(shop_id)
    drift = [
        SkuDrift(sku=sku, mirror=mirror.get(sku), postgres=levels.get(sku))
        for sku in sorted(set(mirror) | set(levels))
        if mirror.get(sku) != levels.get(sku)
    ]
    if drift and repair:
        for key in unmirrored:  # an empty decrement only sets the key's applied marker
            services.mirror.decrement_once(shop_id, key, {})
        services.mirror.replace(shop_id, levels)
        log.warning(
            "stock mirror repaired", extra={"shop_id": shop_id, "skus": [d.sku for d in drift]}
        )
    return MirrorReport(shop_id=shop_id, drift=drift, repaired=bool(drift and repair))


def reconcile_sessions(
    services: Services, shop_id: str, *, repair: bool = True
) -> tuple[int, list[SessionReport]]:
    """Open checkouts whose Stripe session completed: fulfil them (or, without ``repair``,
    just report them). Returns how many sessions were checked and what was found."""
    with services.uow() as uow:
        shop = uow.shops.get(shop_id)
        candidates = uow.checkouts.open_sessions(shop_id) if shop else []
    found: list[SessionReport] = []
    if shop is None:
        return 0, found
    for checkout in candidates:
        assert checkout.stripe_session_id is not None
        entry = SessionReport(
            shop_id=shop_id,
            checkout_id=str(checkout.id),
            session_id=checkout.stripe_session_id,
            outcome="unpaid",
        )
        try:
            session = services.payments.retrieve_session(shop, checkout.stripe_session_id)
            if session.status != "complete" and session.payment_status != "paid":
                continue
            if not repair:
                found.append(entry.model_copy(update={"outcome": "paid_without_order"}))
                continue
            result = fulfil_session(services, shop, session)
        except PaymentProviderError as exc:
            reason = exc.code or ("transient" if exc.transient else "permanent")
            found.append(entry.model_copy(update={"outcome": f"error:{reason}"}))
            continue
        if result.outcome == "not_paid":
            continue
        found.append(
            entry.model_copy(
                update={
                    "outcome": result.outcome,
                    "order_reference": result.order.reference if result.order else None,
                }
            )
        )
        log.warning(
            "paid session without order reconciled",
            extra={"shop_id": shop_id, "checkout_id": str(checkout.id), "outcome": result.outcome},
        )
    return len(candidates), found

"""``kassa reconcile``: find where the copies drifted from the truth, repair, and report.

1. The Redis stock mirror against on-hand units in Postgres, per shop. A repair marks
   every not-yet-done mirror decrement as applied (its sale is already in ``on_hand``)
   and then replaces the mirror, so an in-flight job cannot subtract the sale twice.
2. Stripe's side, whatever state our rows are in: the shop's checkout events since a stored
   cursor, each one not handled yet processed exactly as its webhook would have been (a
   webhook lost for good, a payment that settled days after its hold lapsed); and the
   sessions of live checkouts, asked directly.
3. Payment rows against their PaymentIntents (``checkout.payment_reconcile``): reported,
   never repaired.

The worker runs all of it periodically (``workers.service``); ``kassa reconcile`` runs it
once, or only reports with ``--dry-run``.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import Counter

from checkout.errors import WebhookRejected
from checkout.faults import is_transient
from checkout.fulfilment import FULFIL_OUTCOMES, fulfil
from checkout.payment_reconcile import reconcile_payments
from checkout.ports import PaymentProviderError, Services
from checkout.webhooks import FULFIL, HANDLED, event_session, process_event
from schemas.ops import MirrorReport, ReconcileReport, SessionReport, SkuDrift
from schemas.outbox import StockMirrorDecrement
from schemas.records import Shop
from schemas.stripe import StripeWebhookPayload

log = logging.getLogger(__name__)

DECREMENT_KIND: str = StockMirrorDecrement.model_fields["kind"].default

EVENT_OVERLAP_SECONDS = 600
"""Each walk starts this far before where the last one ended: an event listed late (Stripe's
list is eventually consistent) is still seen; the ones seen twice are skipped by id."""

WALK_LEASE_SECONDS = 300

FINDINGS = Counter(
    "kassa_reconcile_findings_total",
    "What reconciliation found: mirror SKUs and paid sessions without orders (repaired),"
    " payments drifted from Stripe, Stripe events and sessions it could not settle",
    ["kind"],
)


def reconcile(
    services: Services, *, repair: bool = True, stock: bool = True, sessions: bool = True
) -> ReconcileReport:
    with services.uow() as uow:
        shop_ids = uow.shops.ids()
    report = ReconcileReport()
    failures: list[Exception] = []
    for shop_id in shop_ids:
        if stock:
            with _on_failure(failures, shop_id, "mirror"):
                report.mirrors.append(reconcile_mirror(services, shop_id, repair=repair))
        if sessions:
            with _on_failure(failures, shop_id, "sessions"):
                _reconcile_money(services, shop_id, report, repair=repair)
    if failures:
        raise failures[0]  # the pass failed; every other step and shop was still done
    return report


def _reconcile_money(
    services: Services, shop_id: str, report: ReconcileReport, *, repair: bool
) -> None:
    checked, found = reconcile_sessions(services, shop_id, repair=repair)
    report.sessions_checked += checked
    report.sessions += found
    reported = {s.checkout_id for s in found}
    checked, found = reconcile_events(services, shop_id, repair=repair)
    report.events_checked += checked
    report.sessions += [f for f in found if f.checkout_id not in reported]
    paid, drifted = reconcile_payments(services, shop_id)
    report.payments_checked += paid
    report.payments += drifted
    FINDINGS.labels("payment_drift").inc(len(drifted))


@contextmanager
def _on_failure(failures: list[Exception], shop_id: str, step: str) -> Iterator[None]:
    """An error no retry fixes (a bug, data that cannot be read) in one step of one shop
    must not stop the steps and shops after it on every pass: it is logged and kept, to be
    raised once the pass is over. A transient one (Postgres or Redis out of reach) ends
    the pass at once: the next steps would only fail the same way."""
    try:
        yield
    except Exception as exc:
        if is_transient(exc):
            raise
        failures.append(exc)
        log.error(
            "reconciliation step failed",
            extra={"shop_id": shop_id, "step": step, "error": type(exc).__name__},
        )


def _failed(
    kind: str, entry: SessionReport, exc: Exception, message: str, **ids: str
) -> SessionReport:
    """A session or event that failed for good: counted (``kind``), logged with its ids and
    the error's type, and reported as ``error:<type>``."""
    FINDINGS.labels(kind).inc()
    log.error(message, extra={"shop_id": entry.shop_id, **ids, "error": type(exc).__name__})
    return entry.model_copy(update={"outcome": f"error:{type(exc).__name__}"})


def rebuild_mirrors(services: Services) -> None:
    """Every shop's mirror from Postgres, now (after Redis lost its data)."""
    with services.uow() as uow:
        shop_ids = uow.shops.ids()
    for shop_id in shop_ids:
        reconcile_mirror(services, shop_id)


def reconcile_mirror(
    services: Services, shop_id: str, *, repair: bool = True, finding: bool = True
) -> MirrorReport:
    """Compare the shop's Redis stock mirror with Postgres and, with ``repair``, put it in
    step. A difference is a finding (counted for /metrics, logged) unless ``finding`` is
    false: seeding fills a new shop's empty mirror this way, which is no drift."""
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
    if drift and repair and finding:
        FINDINGS.labels("mirror_drift").inc(len(drift))
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
            result = fulfil(services, shop, session)
        except PaymentProviderError as exc:
            reason = exc.code or ("transient" if exc.transient else "permanent")
            found.append(entry.model_copy(update={"outcome": f"error:{reason}"}))
            continue
        except Exception as exc:
            if is_transient(exc):
                raise  # the database is out of reach: the whole pass tries again later
            # Even settling it as a refund failed (a bug, data the database refuses): the
            # next pass tries again, and the checkouts after it in this shop (and the event
            # walk) are not held up behind it on every pass.
            found.append(
                _failed(
                    "session_failed",
                    entry,
                    exc,
                    "paid session could not be settled; tried again next pass",
                    checkout_id=str(checkout.id),
                )
            )
            continue
        if result.outcome not in FULFIL_OUTCOMES:
            continue
        FINDINGS.labels("paid_without_order").inc()
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


def reconcile_events(
    services: Services, shop_id: str, *, repair: bool = True
) -> tuple[int, list[SessionReport]]:
    """Walk the shop's checkout events since its cursor; every event no webhook delivered
    goes through ``process_event``, the webhook's own code path. Returns how many events
    were listed and what the unhandled ones led to."""
    with services.uow() as uow:
        shop = uow.shops.get(shop_id)
        start = uow.events.lease_cursor(shop_id, WALK_LEASE_SECONDS) if shop and repair else 0
    if shop is None or start is None:
        return 0, []  # another worker is walking this shop's events right now
    end = start
    try:
        events = services.payments.list_events(shop, HANDLED, max(0, start - EVENT_OVERLAP_SECONDS))
        found, failed_at = _handle_events(services, shop, events, repair=repair)
        end = min(max([start, *(e.created for e in events)]), failed_at)
    finally:
        if repair:
            with services.uow() as uow:
                uow.events.release_cursor(shop_id, end)
    return len(events), found


def _handle_events(
    services: Services, shop: Shop, events: list[StripeWebhookPayload], *, repair: bool
) -> tuple[list[SessionReport], int]:
    """Process the unhandled events oldest first; returns the findings and the creation time
    of the oldest event that failed (the next walk must start there)."""
    with services.uow() as uow:
        known = uow.events.known([e.id for e in events])
    found: list[SessionReport] = []
    failed_at = sys.maxsize
    for event in reversed(events):
        if event.id in known:
            continue
        try:
            session = event_session(event)
        except WebhookRejected:
            continue  # unreadable: its webhook was refused too, and no retry will change it
        if session is None or session.metadata.get("shop_id") != shop.id:
            continue  # not a checkout event, or another tenant's session on a shared account
        entry = SessionReport(
            shop_id=shop.id,
            checkout_id=session.metadata.get("checkout_id", ""),
            session_id=session.id,
            outcome="unhandled_event",
        )
        if not repair:
            if event.type in FULFIL:
                found.append(entry)
            continue
        try:
            result = process_event(services, shop, event).result
        except Exception as exc:
            # Kept for the next walk (the cursor stops here), but never in the way of the
            # events after it: one event that always fails must not stop reconciliation.
            failed_at = min(failed_at, event.created)
            if not is_transient(exc):
                found.append(
                    _failed(
                        "event_failed",
                        entry,
                        exc,
                        "stripe event could not be reconciled; kept for the next walk",
                        event_id=event.id,
                    )
                )
            continue
        if result in FULFIL_OUTCOMES:
            FINDINGS.labels("paid_without_order").inc()
            found.append(entry.model_copy(update={"outcome": result}))
            log.warning(
                "unhandled stripe event reconciled",
                extra={"shop_id": shop.id, "event_id": event.id, "outcome": result},
            )
    return found, failed_at

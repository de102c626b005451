"""Reconciliation when things are not simple: Stripe unreachable or half-way through a
payment, a walk already under way elsewhere, an event the walk cannot handle yet. Nothing is
guessed, nothing is skipped for good, and what was found is reported."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
import requests
from integration.workers.outbox_support import Orders
from integration.workers.window_support import buy, use_capture_mode
from prometheus_client import REGISTRY
from support import db, inject_fault, pay

from checkout.payment_reconcile import reconcile_payments
from checkout.reconcile import _handle_events, reconcile, reconcile_events, reconcile_sessions
from kassa.bootstrap import Container
from schemas.records import CheckoutRecord, Shop
from schemas.stripe import StripeWebhookPayload
from stripe_emulator.server import EmulatorServer
from workers.jobs import perform_row

CURSOR = "SELECT created_gte FROM stripe_event_cursors WHERE shop_id = 'demo'"
RESERVED = "SELECT sum(reserved) FROM inventory_levels WHERE sku = 'MUG-WHITE'"


def demo(container: Container) -> Shop:
    with container.uow() as uow:
        shop = uow.shops.get("demo")
    assert shop is not None
    return shop


def stripe_is_back(emulator: EmulatorServer) -> None:
    requests.delete(f"{emulator.url}/_emulator/faults", timeout=5).raise_for_status()


def open_checkout(orders: Orders, *, manual_capture: bool = False) -> tuple[CheckoutRecord, str]:
    """A live checkout holding two mugs, with its Stripe session (no webhook endpoint)."""
    checkout = orders.checkout(
        {"MUG-WHITE": 2}, hold_expires_at=datetime.now(UTC) + timedelta(hours=1), shipping=0
    )
    return checkout, orders.stripe_session(checkout, manual_capture=manual_capture)


@contextmanager
def refusing_updates(
    container: Container, checkout: CheckoutRecord, errcode: str = "P0001"
) -> Iterator[None]:
    """The database refuses every change to this checkout's row, for this checkout only:
    by default an error no retry fixes (a bug, data a constraint rejects); with errcode
    57P01, as a server shutting down would (a transient error)."""
    with container.db.pool.connection() as conn:
        conn.execute(
            "CREATE FUNCTION refuse_update() RETURNS trigger LANGUAGE plpgsql AS"
            f" $$ BEGIN RAISE EXCEPTION 'refused' USING ERRCODE = '{errcode}'; END $$"
        )
        conn.execute(
            "CREATE TRIGGER refuse BEFORE UPDATE ON checkouts FOR EACH ROW"
            f" WHEN (OLD.id = '{checkout.id}') EXECUTE FUNCTION refuse_update()"
        )
    try:
        yield
    finally:
        with container.db.pool.connection() as conn:
            conn.execute("DROP TRIGGER refuse ON checkouts")
            conn.execute("DROP FUNCTION refuse_update()")


def findings(kind: str) -> float:
    return REGISTRY.get_sample_value("kassa_reconcile_findings_total", {"kind": kind}) or 0.0


def orders_of(container: Container, checkout: CheckoutRecord) -> int:
    return int(db(container, "SELECT count(*) FROM orders WHERE checkout_id = %s", checkout.id))


def test_a_shop_that_does_not_exist_has_nothing_to_reconcile(container: Container) -> None:
    assert reconcile_sessions(container, "no-such-shop") == (0, [])
    assert reconcile_events(container, "no-such-shop") == (0, [])
    assert reconcile_payments(container, "no-such-shop") == (0, [])
    assert db(container, "SELECT count(*) FROM stripe_event_cursors") == 0


def test_a_session_stripe_cannot_show_is_reported_as_an_error(
    container: Container, orders: Orders, emulator: EmulatorServer
) -> None:
    checkout, session_id = open_checkout(orders)
    pay(emulator.url, session_id)
    inject_fault(emulator.url, "/v1/checkout/sessions/", 500, count=20, method="GET")
    checked, found = reconcile_sessions(container, "demo")
    stripe_is_back(emulator)
    assert checked == 1
    assert [(f.checkout_id, f.outcome) for f in found] == [(str(checkout.id), "error:transient")]
    assert orders_of(container, checkout) == 0

    checked, found = reconcile_sessions(container, "demo")
    assert [f.outcome for f in found] == ["fulfilled"] and orders_of(container, checkout) == 1


def test_a_completed_session_whose_money_is_still_on_its_way_is_left_open(
    container: Container, orders: Orders, emulator: EmulatorServer
) -> None:
    """A bank debit: the session is complete but unpaid until the payment settles."""
    checkout, session_id = open_checkout(orders)
    assert reconcile_sessions(container, "demo") == (1, [])  # nobody paid yet
    pay(emulator.url, session_id, outcome="async_pending")
    assert reconcile_sessions(container, "demo") == (1, [])
    assert orders_of(container, checkout) == 0
    assert db(container, "SELECT state FROM checkouts WHERE id = %s", checkout.id) == "open"
    assert db(container, RESERVED) == 2


def test_a_walk_under_way_elsewhere_is_not_joined(
    container: Container, orders: Orders, emulator: EmulatorServer
) -> None:
    checkout, session_id = open_checkout(orders)
    pay(emulator.url, session_id)
    with container.uow() as uow:  # another worker's walk
        assert uow.events.lease_cursor("demo", 300) == 0
    assert reconcile_events(container, "demo") == (0, [])
    assert orders_of(container, checkout) == 0

    with container.uow() as uow:  # that walk ends having handled nothing
        uow.events.release_cursor("demo", 0)
    checked, found = reconcile_events(container, "demo")
    assert checked == 1 and [f.outcome for f in found] == ["fulfilled"]
    assert orders_of(container, checkout) == 1


def test_a_dry_walk_reports_payments_not_releases(
    container: Container, orders: Orders, emulator: EmulatorServer
) -> None:
    """An expiry nobody delivered is not money to account for: the dry run lists nothing;
    the real walk gives the stock back and still reports nothing."""
    checkout, session_id = open_checkout(orders)
    container.payments.expire_session(demo(container), session_id)
    checked, found = reconcile_events(container, "demo", repair=False)
    assert checked == 1 and found == []
    assert db(container, RESERVED) == 2

    assert reconcile_events(container, "demo") == (1, [])
    assert db(container, "SELECT state FROM checkouts WHERE id = %s", checkout.id) == "expired"
    assert db(container, RESERVED) == 0


def test_a_transient_failure_keeps_the_event_for_the_next_walk(
    container: Container, orders: Orders, emulator: EmulatorServer
) -> None:
    """Delayed capture: whether the card is authorized is asked of Stripe, which is down.
    The walk goes on, and its cursor stops at that event so the next walk sees it again."""
    use_capture_mode(container, "delayed")
    checkout, session_id = open_checkout(orders, manual_capture=True)
    pay(emulator.url, session_id)
    inject_fault(emulator.url, "/v1/payment_intents/", 500, count=20, method="GET")
    checked, found = reconcile_events(container, "demo")
    stripe_is_back(emulator)
    assert checked == 1 and found == []
    assert orders_of(container, checkout) == 0
    [event] = container.payments.list_events(demo(container), ["checkout.session.completed"], 0)
    assert db(container, CURSOR) == event.created  # not past the event that failed
    assert db(container, "SELECT count(*) FROM stripe_events") == 0

    checked, found = reconcile_events(container, "demo")
    assert [f.outcome for f in found] == ["fulfilled"]
    assert db(container, "SELECT status FROM orders WHERE checkout_id = %s", checkout.id) == (
        "authorized"
    )
    assert db(container, CURSOR) >= event.created


def test_an_event_that_always_fails_is_kept_and_never_blocks_the_events_after_it(
    container: Container, orders: Orders, emulator: EmulatorServer
) -> None:
    """An expiry whose release the database refuses every time (a bug, bad data): the walk
    reports and counts it, keeps its cursor at it so the next walk tries it again, and still
    turns a later paid session into its order. Before, the walk raised at that event, and
    every later walk stopped there: nothing newer was ever reconciled."""
    stuck, stuck_session = open_checkout(orders)
    container.payments.expire_session(demo(container), stuck_session)
    [expiry] = container.payments.list_events(demo(container), ["checkout.session.expired"], 0)
    paid, paid_session = open_checkout(orders)
    pay(emulator.url, paid_session)
    before = findings("event_failed")
    with refusing_updates(container, stuck):
        checked, found = reconcile_events(container, "demo")
        assert checked == 2
        assert sorted((f.checkout_id, f.outcome) for f in found) == sorted(
            [(str(stuck.id), "error:RaiseException"), (str(paid.id), "fulfilled")]
        )
        assert orders_of(container, paid) == 1
        assert db(container, CURSOR) == expiry.created  # not moved past the failed event
        assert db(container, "SELECT state FROM checkouts WHERE id = %s", stuck.id) == "open"
        assert db(container, RESERVED) == 2  # the stuck checkout's hold, kept
        assert findings("event_failed") == before + 1

    checked, found = reconcile_events(container, "demo")  # the walk was not left leased
    assert checked == 2 and found == []  # an expiry is not a finding
    assert db(container, "SELECT state FROM checkouts WHERE id = %s", stuck.id) == "expired"
    assert db(container, RESERVED) == 0


def test_a_paid_session_that_cannot_even_be_refunded_does_not_hold_up_the_others(
    container: Container, orders: Orders, emulator: EmulatorServer
) -> None:
    """Fulfilment fails for good and so does settling it as a refund: the sweep reports and
    counts it and goes on to the next checkout, instead of raising at the same (oldest)
    checkout on every pass, before the event walk of the shop ever ran."""
    stuck, stuck_session = open_checkout(orders)
    pay(emulator.url, stuck_session)
    later, later_session = open_checkout(orders)
    pay(emulator.url, later_session)
    before = findings("session_failed")
    with refusing_updates(container, stuck):
        checked, found = reconcile_sessions(container, "demo")
        assert checked == 2
        assert [(f.checkout_id, f.outcome) for f in found] == [
            (str(stuck.id), "error:RaiseException"),
            (str(later.id), "fulfilled"),
        ]
        assert findings("session_failed") == before + 1
        assert orders_of(container, stuck) == 0 and orders_of(container, later) == 1

    checked, found = reconcile_sessions(container, "demo")  # tried again on the next pass
    assert [(f.checkout_id, f.outcome) for f in found] == [(str(stuck.id), "fulfilled")]
    assert orders_of(container, stuck) == 1


def test_a_database_going_away_ends_the_pass_at_once(
    container: Container, orders: Orders, emulator: EmulatorServer
) -> None:
    """Unlike an error no retry fixes, a transient one is not worked around: the pass
    ends where it is (the event walk never starts), and the next one does everything."""
    checkout, session_id = open_checkout(orders)
    pay(emulator.url, session_id)
    with refusing_updates(container, checkout, "57P01"), pytest.raises(psycopg.OperationalError):
        reconcile(container)
    assert db(container, "SELECT count(*) FROM stripe_event_cursors") == 0
    assert orders_of(container, checkout) == 0

    assert [s.outcome for s in reconcile(container).sessions] == ["fulfilled"]
    assert orders_of(container, checkout) == 1


def test_payments_are_checked_against_stripe_only_when_stripe_can_answer(
    client: Any, container: Container, emulator: EmulatorServer
) -> None:
    """A voided authorization is expected ``canceled`` at Stripe; a PaymentIntent Stripe
    cannot show right now is skipped, never reported as drift."""
    use_capture_mode(container, "delayed")
    order = buy(client, container, emulator.url, {"MUG-WHITE": 1})
    assert order.cancel().status_code == 200
    void = db(container, "SELECT id FROM outbox WHERE kind = 'stripe.void'")
    assert perform_row(container, void) == "done"
    assert order.payment().voided_amount == order.payment().amount
    assert reconcile_payments(container, "demo") == (1, [])

    inject_fault(emulator.url, "/v1/payment_intents/", 500, count=20, method="GET")
    assert reconcile_payments(container, "demo") == (1, [])
    stripe_is_back(emulator)
    db(container, "UPDATE payments SET voided_amount = 0 RETURNING id")  # now it drifts
    [drift] = reconcile_payments(container, "demo")[1]
    assert (drift.ours, drift.stripe) == ("requires_capture 0", "canceled 0")


def test_an_event_that_cannot_be_read_is_skipped_and_the_walk_goes_on(
    container: Container, orders: Orders, emulator: EmulatorServer
) -> None:
    """A session object Kassa cannot read (its webhook was refused for the same reason) must
    not stop every later walk at the same place: it is passed over, the rest are handled.
    Another tenant's session on a shared Stripe account is not ours to handle, nor an alarm."""
    checkout, session_id = open_checkout(orders)
    pay(emulator.url, session_id)
    shop = demo(container)
    [paid] = container.payments.list_events(shop, ["checkout.session.completed"], 0)
    unreadable = StripeWebhookPayload.model_validate(
        {
            "id": "evt_unreadable",
            "type": "checkout.session.completed",
            "created": paid.created - 1,
            "data": {"object": {"id": "cs_x", "object": "checkout.session", "payment_status": 7}},
        }
    )
    tokyos = StripeWebhookPayload.model_validate(  # a shared Stripe account's other tenant
        {
            "id": "evt_tokyo",
            "type": "checkout.session.completed",
            "created": paid.created - 2,
            "data": {
                "object": {
                    "id": "cs_tokyo",
                    "object": "checkout.session",
                    "payment_status": "paid",
                    "metadata": {"shop_id": "tokyo", "checkout_id": str(checkout.id)},
                }
            },
        }
    )
    events = [paid, unreadable, tokyos]
    found, failed_at = _handle_events(container, shop, events, repair=True)
    assert [(f.checkout_id, f.outcome) for f in found] == [(str(checkout.id), "fulfilled")]
    assert failed_at == sys.maxsize  # nothing to come back for
    assert orders_of(container, checkout) == 1
    assert db(container, "SELECT count(*) FROM audit_events") == 0  # no tenancy alarm

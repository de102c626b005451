"""The handlers that call Stripe, against the emulator: each effect happens once per
dedupe key, however often its job runs, and Postgres records it with the row."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from integration.workers.outbox_support import Orders, RelayThread, WorkerProcess, job_outcomes
from support import db, inject_fault

from checkout.fulfilment import fulfil
from devstack.processes import wait_for
from kassa.bootstrap import Container
from schemas.outbox import Capture, CustomerUpsert, ExpireSession, Refund, Void
from schemas.records import OrderRecord, PaymentEvent, PaymentRecord, Shop
from schemas.settings import Settings
from stripe_emulator.server import EmulatorServer
from workers.failures import RetryLater
from workers.jobs import perform_row
from workers.queue import enqueue_rows, outbox_queue

API_KEY = "sk_test_kassa_demo"


def account(emulator: EmulatorServer) -> dict[str, Any]:
    state: dict[str, Any] = requests.get(f"{emulator.url}/_emulator/state", timeout=5).json()
    return dict(state["accounts"].get(API_KEY, {}))


def shop(container: Container) -> Shop:
    with container.uow() as uow:
        found = uow.shops.get("demo")
    assert found is not None
    return found


def pay(emulator: EmulatorServer, session_id: str) -> None:
    requests.post(
        f"{emulator.url}/_emulator/checkout/sessions/{session_id}/complete",
        json={"outcome": "paid", "customer": {"email": "buyer@example.com", "name": "Buyer"}},
        timeout=5,
    ).raise_for_status()


def paid_session(container: Container, orders: Orders, emulator: EmulatorServer, **kw: Any) -> Any:
    checkout = orders.checkout(
        {"MUG-WHITE": 2}, hold_expires_at=datetime.now(UTC) + timedelta(hours=1), shipping=0
    )
    session_id = orders.stripe_session(checkout, **kw)
    pay(emulator, session_id)
    return container.payments.retrieve_session(shop(container), session_id)


def test_every_effect_of_a_fulfilled_order_happens_once(
    container: Container,
    settings: Settings,
    orders: Orders,
    emulator: EmulatorServer,
    relay_thread: Callable[[Container], RelayThread],
    worker_process: Callable[..., WorkerProcess],
) -> None:
    container.mirror.replace("demo", {"MUG-WHITE": 50})
    session = paid_session(container, orders, emulator)
    result = fulfil(container, shop(container), session)
    assert result.outcome == "fulfilled" and result.order is not None
    order = result.order
    with container.uow() as uow:
        rows = uow.outbox.for_shop("demo")
    kinds = {r.kind for r in rows}
    assert {"stripe.metadata_sync", "stock_mirror.decrement", "email.order_confirmation"} <= kinds

    worker = worker_process()
    relay_thread(container)
    ids = [r.id for r in rows]
    wait_for(
        lambda: set(orders.states(ids).values()) == {"done"},
        what="every side effect",
        context=worker.log_tail,
    )

    # Every job once more, as if Redis had handed them out twice.
    queue = outbox_queue(container.redis)
    with container.uow() as uow:
        jobs = enqueue_rows(queue, uow.outbox.for_shop("demo"), settings)

    def duplicates_ran() -> bool:
        """Each job's newest run found all its rows done already."""
        newest = [job_outcomes(container, job.id)[:1] for job in jobs]
        return all(n and set(n[0].values()) == {"skipped"} for n in newest)

    wait_for(duplicates_ran, what="every duplicate to run", context=worker.log_tail)

    pi = container.payments.retrieve_payment_intent(shop(container), session.payment_intent)
    assert pi.metadata["order_reference"] == order.reference
    assert container.mirror.levels("demo")["MUG-WHITE"] == 48
    assert account(emulator)["customers"] == (1 if "stripe.customer_upsert" in kinds else 0)
    mails = list(Path(settings.mailbox_dir).glob("*.eml"))
    assert [m.name for m in mails] == [f"order-{order.id}-email.eml"]
    assert order.reference in mails[0].read_text()


def test_refund_is_made_once_and_recorded_once(
    container: Container, orders: Orders, emulator: EmulatorServer
) -> None:
    session = paid_session(container, orders, emulator)
    order = orders.order(payment_intent_id=session.payment_intent)
    refund = Refund(
        shop_id="demo",
        order_id=order.id,
        checkout_id=order.checkout_id,
        payment_intent_id=session.payment_intent,
        amount=1000,
        reason="stock_conflict",
    )
    row = orders.queue(refund, f"order-{order.id}-refund")
    assert perform_row(container, row.id) == "done"
    assert perform_row(container, row.id) == "skipped"
    assert account(emulator)["refunds"] == 1
    with container.uow() as uow:
        payment = uow.orders.payment(order.id)
    assert payment is not None and payment.refunded_amount == 1000


def test_capture_takes_what_the_order_is_worth_once(
    container: Container, orders: Orders, emulator: EmulatorServer
) -> None:
    session = paid_session(container, orders, emulator, manual_capture=True)
    pi = session.payment_intent
    assert container.payments.retrieve_payment_intent(shop(container), pi).status == (
        "requires_capture"
    )
    order = orders.order({"MUG-WHITE": 1}, status="authorized", payment_intent_id=pi, shipping=0)
    row = orders.queue(
        Capture(shop_id="demo", order_id=order.id, payment_intent_id=pi),
        f"order-{order.id}-capture",
    )
    assert perform_row(container, row.id) == "done"
    captured = container.payments.retrieve_payment_intent(shop(container), pi)
    assert (captured.status, captured.amount_received) == ("succeeded", 1200)
    with container.uow() as uow:
        after = uow.orders.get(order.id)
    assert after is not None and after.status == "captured"

    cancelled = orders.order(status="cancelled", payment_intent_id=pi)
    skip = orders.queue(
        Capture(shop_id="demo", order_id=cancelled.id, payment_intent_id=pi),
        f"order-{cancelled.id}-capture",
    )
    assert perform_row(container, skip.id) == "done"  # nothing to capture for a cancelled order


def test_customer_upsert_uses_the_order_and_its_key(
    container: Container, orders: Orders, emulator: EmulatorServer
) -> None:
    order = orders.order(email="someone@example.com", name="Someone")
    row = orders.queue(CustomerUpsert(shop_id="demo", order_id=order.id), f"order-{order.id}-cust")
    assert perform_row(container, row.id) == "done"
    assert account(emulator)["customers"] == 1
    no_email = orders.order(email=None, name=None)
    row2 = orders.queue(
        CustomerUpsert(shop_id="demo", order_id=no_email.id), f"order-{no_email.id}-cust"
    )
    assert perform_row(container, row2.id) == "done"
    assert account(emulator)["customers"] == 1


def authorized_order(
    container: Container, orders: Orders, emulator: EmulatorServer
) -> tuple[OrderRecord, str]:
    """An order paid by an authorization still waiting for capture, and its PaymentIntent."""
    session = paid_session(container, orders, emulator, manual_capture=True)
    pi = session.payment_intent
    order = orders.order({"MUG-WHITE": 2}, status="authorized", payment_intent_id=pi, shipping=0)
    return order, pi


def intent_status(container: Container, payment_intent_id: str) -> str:
    return container.payments.retrieve_payment_intent(shop(container), payment_intent_id).status


def payment_of(
    container: Container, order: OrderRecord
) -> tuple[PaymentRecord, list[PaymentEvent]]:
    with container.uow() as uow:
        payment = uow.orders.payment(order.id)
        events = uow.orders.payment_events(order.id)
    assert payment is not None
    return payment, events


def order_status(container: Container, order: OrderRecord) -> str:
    with container.uow() as uow:
        found = uow.orders.get(order.id)
    assert found is not None
    return found.status


def clear_faults(emulator: EmulatorServer) -> None:
    requests.delete(f"{emulator.url}/_emulator/faults", timeout=5).raise_for_status()


def test_refunding_an_uncaptured_authorization_voids_it_and_records_it_once(
    container: Container, orders: Orders, emulator: EmulatorServer
) -> None:
    """Stripe refunds only captured charges: an authorization is voided instead, and a later
    refund of the same order finds it canceled and records nothing more."""
    order, pi = authorized_order(container, orders, emulator)

    def refund_row(key: str) -> int:
        message = Refund(
            shop_id="demo",
            order_id=order.id,
            checkout_id=order.checkout_id,
            payment_intent_id=pi,
            amount=order.total,
            reason="requested_by_customer",
        )
        return orders.queue(message, key).id

    assert perform_row(container, refund_row(f"order-{order.id}-refund")) == "done"
    assert intent_status(container, pi) == "canceled"
    assert perform_row(container, refund_row(f"order-{order.id}-refund-again")) == "done"

    assert account(emulator).get("refunds", 0) == 0
    payment, events = payment_of(container, order)
    assert (payment.status, payment.voided_amount, payment.refunded_amount) == (
        "canceled",
        order.total,
        0,
    )
    assert [e.kind for e in events] == ["authorized", "voided"]
    refunded = "SELECT count(*) FROM merchant_events WHERE type = 'order.refunded'"
    assert db(container, refunded) == 1  # the merchant hears of it once


def test_capture_takes_a_void_made_by_an_earlier_attempt_as_done(
    container: Container, orders: Orders, emulator: EmulatorServer
) -> None:
    """An attempt voided the authorization, then died before recording it; by the time the
    job runs again its idempotency key is forgotten, and Stripe refuses a second void."""
    order, pi = authorized_order(container, orders, emulator)
    with container.uow() as uow:  # a coupon applied in the window took the whole amount
        uow.orders.set_totals(
            order.id, subtotal=order.subtotal, discount=order.subtotal, shipping=0, total=0
        )
    container.payments.cancel_payment_intent(shop(container), pi, idempotency_key="long-ago")
    row = orders.queue(
        Capture(shop_id="demo", order_id=order.id, payment_intent_id=pi),
        f"order-{order.id}-capture",
    )
    assert perform_row(container, row.id) == "done"
    assert order_status(container, order) == "captured"
    payment, events = payment_of(container, order)
    assert payment.status == "canceled"
    assert [e.kind for e in events] == ["authorized", "voided"]


def test_capture_stripe_cannot_answer_is_retried_later_and_then_taken_once(
    container: Container, orders: Orders, emulator: EmulatorServer
) -> None:
    order, pi = authorized_order(container, orders, emulator)
    row = orders.queue(
        Capture(shop_id="demo", order_id=order.id, payment_intent_id=pi),
        f"order-{order.id}-capture",
    )
    inject_fault(emulator.url, f"/v1/payment_intents/{pi}/capture", 503, 100)
    with pytest.raises(RetryLater):
        perform_row(container, row.id)
    after = orders.row(row.id)
    assert (after.state, after.attempts) == ("pending", 1)
    assert after.last_error is not None and after.last_error.startswith("stripe:APIError")
    assert intent_status(container, pi) == "requires_capture"
    assert order_status(container, order) == "capturing"  # the window stays closed

    clear_faults(emulator)
    assert perform_row(container, row.id) == "done"
    assert intent_status(container, pi) == "succeeded"
    assert order_status(container, order) == "captured"
    payment, _ = payment_of(container, order)
    assert payment.captured_amount == order.total


def void_row(orders: Orders, order: OrderRecord, pi: str) -> int:
    message = Void(shop_id="demo", order_id=order.id, payment_intent_id=pi)
    return orders.queue(message, f"order-{order.id}-void").id


def test_void_of_an_authorization_already_canceled_at_stripe_is_recorded(
    container: Container, orders: Orders, emulator: EmulatorServer
) -> None:
    """The authorization lapsed (or an earlier attempt voided it): Stripe refuses to cancel
    it again, and the order's payment is recorded as voided all the same."""
    order, pi = authorized_order(container, orders, emulator)
    container.payments.cancel_payment_intent(shop(container), pi, idempotency_key="lapsed")
    assert perform_row(container, void_row(orders, order, pi)) == "done"
    payment, events = payment_of(container, order)
    assert (payment.status, payment.voided_amount) == ("canceled", order.total)
    assert [e.kind for e in events] == ["authorized", "voided"]


def test_void_stripe_refuses_for_a_captured_payment_is_dead_and_records_nothing(
    container: Container, orders: Orders, emulator: EmulatorServer
) -> None:
    session = paid_session(container, orders, emulator)  # captured at once
    order = orders.order(status="cancelled", payment_intent_id=session.payment_intent)
    row_id = void_row(orders, order, session.payment_intent)
    assert perform_row(container, row_id) == "dead"
    row = orders.row(row_id)
    assert row.last_error is not None and row.last_error.startswith("stripe:InvalidRequestError")
    assert intent_status(container, session.payment_intent) == "succeeded"
    payment, events = payment_of(container, order)
    assert payment.status == "succeeded"
    assert [e.kind for e in events] == ["charged"]


def test_void_stripe_cannot_answer_is_retried_later(
    container: Container, orders: Orders, emulator: EmulatorServer
) -> None:
    order, pi = authorized_order(container, orders, emulator)
    row_id = void_row(orders, order, pi)
    inject_fault(emulator.url, f"/v1/payment_intents/{pi}/cancel", 503, 100)
    with pytest.raises(RetryLater):
        perform_row(container, row_id)
    assert (orders.row(row_id).state, orders.row(row_id).attempts) == ("pending", 1)
    assert intent_status(container, pi) == "requires_capture"
    clear_faults(emulator)
    assert perform_row(container, row_id) == "done"
    assert intent_status(container, pi) == "canceled"


def expire_row(orders: Orders, checkout_id: uuid.UUID, session_id: str) -> int:
    message = ExpireSession(shop_id="demo", checkout_id=checkout_id, session_id=session_id)
    return orders.queue(message, f"checkout-{checkout_id}-expire").id


def lapsed_session(orders: Orders) -> tuple[int, str]:
    """A checkout whose hold lapsed, its session still open at Stripe: the expiry row and
    the session."""
    checkout = orders.checkout({"MUG-WHITE": 1})
    session_id = orders.stripe_session(checkout)
    with orders.container.uow() as uow:
        uow.checkouts.set_state(checkout.id, "expired")
    return expire_row(orders, checkout.id, session_id), session_id


def session_status(container: Container, session_id: str) -> str:
    return container.payments.retrieve_session(shop(container), session_id).status


def test_expiring_a_session_stripe_does_not_know_is_done(
    container: Container, orders: Orders, emulator: EmulatorServer
) -> None:
    """Nothing can pay a session Stripe has no record of (it was purged, or never made it)."""
    checkout = orders.checkout({"MUG-WHITE": 1}, state="expired", session_id="cs_test_unknown")
    assert perform_row(container, expire_row(orders, checkout.id, "cs_test_unknown")) == "done"


def test_expiring_a_session_refused_while_it_is_still_open_is_dead(
    container: Container, orders: Orders, emulator: EmulatorServer
) -> None:
    row_id, session_id = lapsed_session(orders)
    inject_fault(emulator.url, f"/v1/checkout/sessions/{session_id}/expire", 400, 1)
    assert perform_row(container, row_id) == "dead"
    assert session_status(container, session_id) == "open"


def test_expiring_a_session_is_retried_when_stripe_cannot_answer(
    container: Container, orders: Orders, emulator: EmulatorServer
) -> None:
    """Either call failing for a while (the expiry itself, or the look-up after a refusal)
    leaves the row to RQ's next attempt, which expires the session."""
    row_id, session_id = lapsed_session(orders)
    path = f"/v1/checkout/sessions/{session_id}"
    inject_fault(emulator.url, f"{path}/expire", 503, 100)
    with pytest.raises(RetryLater):
        perform_row(container, row_id)
    clear_faults(emulator)
    inject_fault(emulator.url, f"{path}/expire", 400, 100)
    inject_fault(emulator.url, path, 503, 100, method="GET")
    with pytest.raises(RetryLater):
        perform_row(container, row_id)
    clear_faults(emulator)
    assert session_status(container, session_id) == "open"
    assert (orders.row(row_id).state, orders.row(row_id).attempts) == ("pending", 2)
    assert perform_row(container, row_id) == "done"
    assert session_status(container, session_id) == "expired"

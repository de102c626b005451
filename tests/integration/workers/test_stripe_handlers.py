"""The handlers that call Stripe, against the emulator: each effect happens once per
dedupe key, however often its job runs, and Postgres records it with the row."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from integration.workers.outbox_support import Orders, RelayThread, WorkerProcess, job_outcomes

from checkout.fulfilment import fulfil
from devstack.processes import wait_for
from kassa.bootstrap import Container
from schemas.outbox import Capture, CustomerUpsert, Refund
from schemas.records import Shop
from schemas.settings import Settings
from stripe_emulator.server import EmulatorServer
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

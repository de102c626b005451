"""The window's money effects survive a worker SIGKILLed at the worst moment: after Stripe
did the work and before Postgres recorded it. The row is redone by a new worker, and
the dedupe key, which is also Stripe's idempotency key, makes Stripe answer the redo with
the first result: one void, one refund, one capture."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from integration.workers.outbox_support import WorkerProcess
from integration.workers.window_support import Bought, buy, stripe_refunds, use_capture_mode
from support import db, emulator_state

from devstack.processes import wait_for
from kassa.bootstrap import Container
from outbox.relay import Relay
from schemas.settings import Settings
from stripe_emulator.server import EmulatorServer
from workers.jobs import perform_row


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"checkout_rate_limit": "1000/minute"})


def only_row_left(container: Container, kind: str) -> int:
    """Run every other due row in-process, so the worker's first job is the one to kill."""
    due = "SELECT id, kind FROM outbox WHERE state = 'pending' AND available_at <= now()"
    with psycopg.connect(container.settings.database_url) as conn:
        rows = conn.execute(due).fetchall()
    target = [row_id for row_id, k in rows if k == kind]
    assert len(target) == 1, rows
    for row_id, k in rows:
        if k != kind:
            assert perform_row(container, row_id) == "done"
    return target[0]


def kill_after_effect(
    container: Container,
    worker_process: Callable[..., WorkerProcess],
    row_id: int,
    effect_seen: Callable[[], Any],
) -> None:
    """A SHARE lock on the outbox lets the worker run the effect but holds its ``done``
    until the worker is SIGKILLed; then a new worker and the relay's sweep finish it."""
    relay = Relay(container)
    assert relay.run_once() == 1
    with psycopg.connect(container.settings.database_url) as blocker:
        blocker.execute("LOCK TABLE outbox IN SHARE MODE")
        first = worker_process()
        wait_for(effect_seen, what="the worker to reach Stripe", context=first.log_tail)
        first.kill()
        blocker.rollback()
    assert db(container, "SELECT state FROM outbox WHERE id = %s", row_id) == "enqueued"
    second = worker_process()

    def done() -> bool:
        relay.run_once()
        return bool(db(container, "SELECT state FROM outbox WHERE id = %s", row_id) == "done")

    wait_for(done, what="the redo to finish", context=second.log_tail)


def test_refund_of_a_lowered_quantity_survives_a_kill(
    client: Any,
    container: Container,
    emulator: EmulatorServer,
    worker_process: Callable[..., WorkerProcess],
) -> None:
    use_capture_mode(container, "immediate")
    order = buy(client, container, emulator.url, {"MUG-WHITE": 3})
    assert order.set_quantity(order.line_id("MUG-WHITE"), 1).status_code == 200
    row = only_row_left(container, "stripe.refund")
    kill_after_effect(container, worker_process, row, lambda: refunds_made(emulator) == 1)
    assert stripe_refunds(container, emulator.url, order.order_id) == [2400]
    assert order.payment().refunded_amount == 2400


def test_void_of_a_cancelled_order_survives_a_kill(
    client: Any,
    container: Container,
    emulator: EmulatorServer,
    worker_process: Callable[..., WorkerProcess],
) -> None:
    use_capture_mode(container, "delayed")
    order = buy(client, container, emulator.url, {"MUG-WHITE": 2})
    assert order.cancel().status_code == 200
    row = only_row_left(container, "stripe.void")
    kill_after_effect(container, worker_process, row, lambda: order.intent().status == "canceled")
    payment = order.payment()
    assert (payment.voided_amount, payment.captured_amount) == (payment.amount, 0)
    assert voided_events(container, order) == 1


def test_capture_of_a_lowered_total_survives_a_kill(
    client: Any,
    container: Container,
    emulator: EmulatorServer,
    worker_process: Callable[..., WorkerProcess],
) -> None:
    use_capture_mode(container, "delayed")
    order = buy(client, container, emulator.url, {"MUG-WHITE": 3})
    assert order.set_quantity(order.line_id("MUG-WHITE"), 2).status_code == 200
    order.close_window()
    row = only_row_left(container, "stripe.capture")
    kill_after_effect(container, worker_process, row, lambda: order.intent().status == "succeeded")
    assert order.intent().amount_received == 2400 + 500
    assert order.payment().captured_amount == 2400 + 500
    assert db(container, "SELECT count(*) FROM payment_events WHERE kind = 'captured'") == 1
    assert db(container, "SELECT status FROM orders") == "captured"


def refunds_made(emulator: EmulatorServer) -> int:
    account = emulator_state(emulator.url)["accounts"].get("sk_test_kassa_demo", {})
    return int(account.get("refunds", 0))


def voided_events(container: Container, order: Bought) -> int:
    return int(
        db(
            container,
            "SELECT count(*) FROM payment_events e JOIN payments p ON p.id = e.payment_id"
            " WHERE p.order_id = %s AND e.kind = 'voided'",
            order.order_id,
        )
    )

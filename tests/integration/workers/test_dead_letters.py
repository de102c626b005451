"""A job that keeps failing ends ``dead`` after ``job_max_attempts``, with a last error
that names the failure but no customer; ``kassa dlq replay`` brings it back, and once
the fault is gone it completes."""

from __future__ import annotations

from collections.abc import Callable

from integration.workers.outbox_support import (
    Orders,
    RelayThread,
    SmtpSink,
    WorkerProcess,
    dlq_json,
    run_cli,
)

from devstack.processes import wait_for
from devstack.services import free_port
from kassa.bootstrap import Container
from schemas.outbox import OrderConfirmationEmail
from schemas.settings import Settings

CANARY_EMAIL = "canary.customer@example.com"
CANARY_NAME = "Canary Person"


def test_email_dies_then_replays_once_smtp_is_back(
    container: Container,
    settings: Settings,
    orders: Orders,
    relay_thread: Callable[[Container], RelayThread],
    worker_process: Callable[..., WorkerProcess],
    smtp_sink: Callable[..., SmtpSink],
) -> None:
    closed_port = free_port()  # nothing listens here until the sink starts below
    broken = settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": closed_port})
    order = orders.order({"MUG-WHITE": 2, "STICKERS": 3}, email=CANARY_EMAIL, name=CANARY_NAME)
    key = f"order-{order.id}-email"
    row_id = orders.queue(OrderConfirmationEmail(shop_id="demo", order_id=order.id), key).id

    worker = worker_process(broken)
    relay_thread(container)
    wait_for(
        lambda: orders.row(row_id).state == "dead",
        what="the row to die",
        context=worker.log_tail,
    )
    dead = orders.row(row_id)
    assert dead.attempts == settings.job_max_attempts == 3
    assert dead.last_error == "ConnectionRefusedError"

    listed = dlq_json(settings)
    assert [(r["id"], r["kind"], r["attempts"]) for r in listed] == [
        (row_id, "email.order_confirmation", 3)
    ]
    assert "payload" not in listed[0]
    logs = worker.log_tail(10_000)
    assert "outbox row failed" in logs
    assert CANARY_EMAIL not in logs and CANARY_NAME not in logs
    assert CANARY_EMAIL not in str(listed)

    sink = smtp_sink(closed_port)
    replay = run_cli(settings, "dlq", "replay", str(row_id))
    assert replay.returncode == 0, replay.stderr
    assert f"replayed 1 row(s): {row_id}" in replay.stdout

    wait_for(lambda: orders.row(row_id).state == "done", what="the replayed row to be done")
    assert len(sink.messages) == 1
    mail = sink.messages[0]
    assert mail["To"] == CANARY_EMAIL
    assert mail["Message-ID"] == f"<{key}@kassa.local>"
    body = mail.get_body(("plain",)).get_content()
    assert order.reference in body
    assert "2 x Enamel mug (MUG-WHITE)  $24.00" in body
    assert "3 x Sticker pack (STICKERS)  $9.00" in body
    assert "Total: $38.00" in body  # 2400 + 900 + 500 shipping, from minor units
    assert dlq_json(settings) == []
    assert orders.row(row_id).last_error is None


def test_replay_cli_refuses_rows_that_are_not_dead(settings: Settings, orders: Orders) -> None:
    order = orders.order()
    row_id = orders.queue(
        OrderConfirmationEmail(shop_id="demo", order_id=order.id), f"order-{order.id}-email"
    ).id
    result = run_cli(settings, "dlq", "replay", str(row_id), "999999")
    assert result.returncode == 1
    assert "replayed 0 row(s)" in result.stdout
    assert f"not dead or unknown: {row_id} 999999" in result.stdout
    assert orders.row(row_id).state == "pending"
    assert run_cli(settings, "dlq", "replay").returncode == 2
    empty = run_cli(settings, "dlq", "list")
    assert empty.returncode == 0 and "no dead outbox rows" in empty.stdout


def test_a_permanent_error_is_dead_at_once(
    container: Container,
    orders: Orders,
    relay_thread: Callable[[Container], RelayThread],
    worker_process: Callable[..., WorkerProcess],
) -> None:
    """An email for an order that does not exist can never be sent: no retries."""
    import uuid

    ghost = uuid.uuid4()
    row_id = orders.queue(
        OrderConfirmationEmail(shop_id="demo", order_id=ghost), f"order-{ghost}-email"
    ).id
    worker = worker_process()
    relay_thread(container)
    wait_for(
        lambda: orders.row(row_id).state == "dead", what="the row to die", context=worker.log_tail
    )
    row = orders.row(row_id)
    assert (row.attempts, row.last_error) == (1, "order_not_found")

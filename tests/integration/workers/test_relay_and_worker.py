"""A side effect travels pending → enqueued → done through the relay and a worker process,
and happens once however many times RQ runs its job."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from integration.workers.outbox_support import (
    ROOT,
    Orders,
    RelayThread,
    WorkerProcess,
    env_for,
    job_outcomes,
)

from devstack.processes import wait_for
from kassa.bootstrap import Container
from outbox.relay import Relay
from schemas.outbox import StockLine, StockMirrorDecrement
from schemas.settings import Settings
from workers.queue import enqueue_rows, job_id_for, outbox_queue


def decrement(orders: Orders, key: str, sku: str = "MUG-WHITE", qty: int = 2) -> int:
    message = StockMirrorDecrement(
        shop_id="demo", order_reference=key, lines=[StockLine(sku=sku, quantity=qty)]
    )
    return orders.queue(message, key).id


def listening(container: Container) -> bool:
    with container.db.pool.connection() as conn:
        row = conn.execute(
            "SELECT count(*) AS n FROM pg_stat_activity WHERE query = 'LISTEN outbox'"
        ).fetchone()
    return bool(row and row["n"])


def test_row_moves_through_relay_and_worker_and_applies_once(
    container: Container, orders: Orders, worker_process: Callable[..., WorkerProcess]
) -> None:
    container.mirror.replace("demo", {"MUG-WHITE": 50})
    row_id = decrement(orders, "order-a1-stock")
    assert orders.row(row_id).state == "pending"

    relay = Relay(container)
    assert relay.run_once() == 1
    assert orders.row(row_id).state == "enqueued"
    queue = outbox_queue(container.redis)
    assert queue.job_ids == [job_id_for("order-a1-stock")]

    worker = worker_process()
    wait_for(lambda: orders.row(row_id).state == "done", what="the row to be done")
    assert container.mirror.levels("demo")["MUG-WHITE"] == 48
    assert orders.row(row_id).attempts == 1

    job_id = job_id_for("order-a1-stock")
    wait_for(lambda: job_outcomes(container, job_id) == [{row_id: "done"}], what="the result")

    # Two more jobs with the same id: RQ runs both; the row lock and state make them no-ops.
    enqueue_rows(queue, [orders.row(row_id)], container.settings)
    enqueue_rows(queue, [orders.row(row_id)], container.settings)
    wait_for(
        lambda: len(job_outcomes(container, job_id)) == 3,
        what="both duplicate jobs to run",
        context=worker.log_tail,
    )
    assert job_outcomes(container, job_id) == [
        {row_id: "skipped"},
        {row_id: "skipped"},
        {row_id: "done"},
    ]
    assert container.mirror.levels("demo")["MUG-WHITE"] == 48
    assert orders.row(row_id).attempts == 1
    assert relay.run_once() == 0


def test_relay_wakes_on_notify_not_on_its_poll(
    container: Container,
    orders: Orders,
    worker_process: Callable[..., WorkerProcess],
    relay_thread: Callable[[Container], RelayThread],
) -> None:
    """With a 60 s poll interval, only LISTEN/NOTIFY can make the row move within seconds."""
    container.settings = container.settings.model_copy(update={"relay_poll_seconds": 60.0})
    container.mirror.replace("demo", {"MUG-WHITE": 50})
    worker_process().wait_ready(container)
    relay_thread(container)
    wait_for(lambda: listening(container), what="the relay to LISTEN")
    ids = [decrement(orders, f"order-n{i}-stock", qty=1) for i in range(5)]
    wait_for(
        lambda: set(orders.states(ids).values()) == {"done"},
        timeout=40,  # generous for a loaded machine, and still well inside the 60 s poll
        what="notified rows to be done",
    )
    assert container.mirror.levels("demo")["MUG-WHITE"] == 45


def test_relay_and_worker_commands_run_and_stop_cleanly(
    settings: Settings, orders: Orders, container: Container, tmp_path: Path
) -> None:
    """``kassa relay`` and ``kassa worker`` as the Procfile runs them; SIGTERM ends both
    with exit code 0."""
    container.mirror.replace("demo", {"MUG-WHITE": 50})
    procs = {
        name: subprocess.Popen(
            [sys.executable, "-m", "ops.cli", name],
            cwd=ROOT,
            env=env_for(settings),
            stdout=open(tmp_path / f"{name}.log", "wb"),
            stderr=subprocess.STDOUT,
        )
        for name in ("relay", "worker")
    }
    try:
        row_id = decrement(orders, "order-p1-stock")
        wait_for(lambda: orders.row(row_id).state == "done", what="the row to be done")
        assert container.mirror.levels("demo")["MUG-WHITE"] == 48
    finally:
        for proc in procs.values():
            proc.send_signal(signal.SIGTERM)
        codes = {name: proc.wait(15) for name, proc in procs.items()}
    assert codes == {"relay": 0, "worker": 0}
    assert '"relay stopped"' in (tmp_path / "relay.log").read_text()

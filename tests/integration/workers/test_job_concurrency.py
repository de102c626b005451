"""Several RQ jobs at once in one worker process (``KASSA_WORKER_JOBS``): the effect
threads and the per-shop bound, not the job, limit what is in flight; a kill with several
jobs in flight still ends with every row done exactly once; SIGTERM finishes them all."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
from integration.workers.outbox_support import (
    DEADLINE,
    Orders,
    SmtpSink,
    WorkerProcess,
    run_cli,
)

from devstack.processes import wait_for
from kassa.bootstrap import Container
from outbox.relay import Relay
from schemas.outbox import OrderConfirmationEmail, StockLine, StockMirrorDecrement
from schemas.settings import Settings
from workers.queue import outbox_queue


def emails_in_jobs_of_two(
    container: Container, settings: Settings, orders: Orders, sink: SmtpSink, **worker: int
) -> tuple[Settings, list[int]]:
    """Eight confirmation emails of one shop, relayed as four RQ jobs of two (the relay's
    ``worker_threads`` is 2); returns the worker's settings (``worker``) and the row ids."""
    local = settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": sink.port})
    ids = []
    for i in range(8):
        order = orders.order(email=f"c{i}@example.com")
        message = OrderConfirmationEmail(shop_id="demo", order_id=order.id)
        ids.append(orders.queue(message, f"order-{order.id}-email").id)
    container.settings = local.model_copy(update={"worker_threads": 2})
    assert Relay(container).run_once() == 8
    assert len(outbox_queue(container.redis)) == 4, "eight rows, four jobs of two"
    return local.model_copy(update=worker), ids


def all_done(orders: Orders, ids: list[int]) -> bool:
    return set(orders.states(ids).values()) == {"done"}


def send_eight(
    container: Container,
    settings: Settings,
    orders: Orders,
    worker_process: Callable[..., WorkerProcess],
    sink: SmtpSink,
    shop_concurrency: int,
) -> list[int]:
    """The eight emails of ``emails_in_jobs_of_two`` through one worker process with four
    job threads and eight effect threads; returns the row ids once all are done."""
    worker_settings, ids = emails_in_jobs_of_two(
        container,
        settings,
        orders,
        sink,
        worker_jobs=4,
        worker_threads=8,
        worker_shop_concurrency=shop_concurrency,
    )
    worker = worker_process(worker_settings)
    wait_for(
        lambda: all_done(orders, ids),
        timeout=3 * DEADLINE,
        what="the eight emails",
        context=worker.log_tail,
    )
    return ids


def test_one_process_runs_several_jobs_of_a_shop_at_once(
    container: Container,
    settings: Settings,
    orders: Orders,
    worker_process: Callable[..., WorkerProcess],
    smtp_sink: Callable[..., SmtpSink],
) -> None:
    """The SMTP server holds each message until eight are in flight. A job carries two, so
    only one process running all four jobs side by side can get there."""
    sink = smtp_sink()
    sink.hold(until=8, seconds=DEADLINE)
    ids = send_eight(container, settings, orders, worker_process, sink, shop_concurrency=8)
    assert sink.max_in_flight == 8
    assert len(sink.messages) == 8
    assert {orders.row(i).attempts for i in ids} == {1}


def test_the_shop_bound_spans_the_jobs_of_a_process(
    container: Container,
    settings: Settings,
    orders: Orders,
    worker_process: Callable[..., WorkerProcess],
    smtp_sink: Callable[..., SmtpSink],
) -> None:
    """Four jobs of two emails each run at once, with eight threads to spare, but the shop
    may have three in flight: the server, waiting (5 s, in vain) for a fourth, sees three,
    which also means rows of two jobs were in flight together."""
    sink = smtp_sink()
    sink.hold(until=4, seconds=5.0)
    send_eight(container, settings, orders, worker_process, sink, shop_concurrency=3)
    assert sink.max_in_flight == 3
    assert len(sink.messages) == 8


def test_sigterm_finishes_every_job_in_flight(
    container: Container,
    settings: Settings,
    orders: Orders,
    worker_process: Callable[..., WorkerProcess],
    smtp_sink: Callable[..., SmtpSink],
) -> None:
    """SIGTERM arrives while four jobs hold eight emails at the server: the worker waits
    for all of them (the server lets them go only after the signal), marks every row
    done, and exits 0."""
    sink = smtp_sink()
    sink.hold(until=9, seconds=3 * DEADLINE)
    worker_settings, ids = emails_in_jobs_of_two(
        container, settings, orders, sink, worker_jobs=4, worker_shop_concurrency=8
    )
    worker = worker_process(worker_settings)
    wait_for(
        lambda: sink.handler.in_flight == 8,
        timeout=DEADLINE,
        what="eight emails in flight",
        context=worker.log_tail,
    )
    assert worker.proc is not None
    worker.proc.terminate()
    wait_for(lambda: "warm shutdown" in worker.log_tail(400), what="the worker to get the signal")
    sink.hold(until=0, seconds=0)
    assert worker.proc.wait(DEADLINE) == 0
    assert all_done(orders, ids), worker.log_tail()
    assert {orders.row(i).attempts for i in ids} == {1}
    assert len(sink.messages) == 8


def test_kill_with_several_jobs_in_flight_applies_each_row_once(
    container: Container,
    settings: Settings,
    orders: Orders,
    worker_process: Callable[..., WorkerProcess],
) -> None:
    """Four jobs of five decrements. A SHARE lock on the outbox lets each job apply its
    effects to Redis and then holds its ``UPDATE … done``: the mirror can only fall by all
    twenty if the four jobs are in flight together in the one process. It is SIGKILLed
    there; after the stale sweep a second worker finishes every row, each counted once."""
    container.settings = settings.model_copy(update={"outbox_group_size": 5})
    container.mirror.replace("demo", {"MUG-WHITE": 50})
    ids = [orders.decrement(f"order-j{i}-stock") for i in range(20)]
    relay = Relay(container)
    assert relay.run_once() == 20
    assert len(outbox_queue(container.redis)) == 4

    with psycopg.connect(container.settings.database_url) as blocker:
        blocker.execute("LOCK TABLE outbox IN SHARE MODE")
        first = worker_process(settings.model_copy(update={"worker_jobs": 4}))
        wait_for(
            lambda: container.mirror.levels("demo")["MUG-WHITE"] == 30,
            what="four jobs to apply their effects side by side",
            context=first.log_tail,
        )
        first.kill()
        blocker.rollback()
    assert {(orders.row(i).state, orders.row(i).attempts) for i in ids} == {("enqueued", 0)}

    second = worker_process()

    def finished() -> bool:
        relay.run_once()
        return all_done(orders, ids)

    wait_for(finished, what="every row after the restart", context=second.log_tail)
    assert container.mirror.levels("demo")["MUG-WHITE"] == 30
    assert {orders.row(i).attempts for i in ids} == {1}


def test_a_second_signal_leaves_the_jobs_in_flight_to_crash_recovery(
    container: Container,
    settings: Settings,
    orders: Orders,
    worker_process: Callable[..., WorkerProcess],
    smtp_sink: Callable[..., SmtpSink],
) -> None:
    """Ctrl-C twice: the worker does not wait for the emails the server still holds; it
    exits 1 at once (the stale sweep picks those rows up, as after a kill)."""
    sink = smtp_sink()
    sink.hold(until=9, seconds=3 * DEADLINE)
    worker_settings, ids = emails_in_jobs_of_two(
        container, settings, orders, sink, worker_jobs=4, worker_shop_concurrency=8
    )
    worker = worker_process(worker_settings)
    wait_for(lambda: sink.handler.in_flight == 8, timeout=DEADLINE, what="eight emails held")
    assert worker.proc is not None
    worker.proc.terminate()
    wait_for(lambda: "warm shutdown" in worker.log_tail(400), what="the first signal")
    worker.proc.terminate()
    assert worker.proc.wait(DEADLINE) == 1
    assert "cold shutdown" in worker.log_tail(400)
    assert not all_done(orders, ids)
    sink.hold(until=0, seconds=0)


def test_a_burst_worker_drains_the_queue_and_exits(
    container: Container, settings: Settings, orders: Orders
) -> None:
    """``kassa worker --burst`` (one pass, for scripts and CI) does the queued rows and
    exits 0; with a pool too small for its threads it says so, and still gets there."""
    container.mirror.replace("demo", {"MUG-WHITE": 10})
    ids = [
        orders.queue(
            StockMirrorDecrement(
                shop_id="demo",
                order_reference=f"o{i}",
                lines=[StockLine(sku="MUG-WHITE", quantity=1)],
            ),
            f"order-o{i}-stock",
        ).id
        for i in range(3)
    ]
    assert Relay(container).run_once() == 3
    small = settings.model_copy(update={"db_pool_max": 4})

    result = run_cli(small, "worker", "--burst", "--no-periodic")

    assert result.returncode == 0, result.stderr
    assert "KASSA_DB_POOL_MAX is below" in result.stdout + result.stderr
    assert all_done(orders, ids)
    assert container.mirror.levels("demo")["MUG-WHITE"] == 7

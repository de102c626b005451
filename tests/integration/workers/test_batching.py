"""Several outbox rows per RQ job: each row is still locked, applied and marked done
exactly once, whatever happens to the job that carries it (a kill mid-group, a row that
keeps failing, the same group enqueued three times, Redis restarted mid-stream)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from integration.workers.outbox_support import (
    DEADLINE,
    Orders,
    RelayThread,
    SmtpSink,
    WorkerProcess,
)
from rq import Queue
from rq.job import Job
from rq.registry import StartedJobRegistry

from devstack.processes import wait_for
from devstack.services import EmbeddedRedis
from kassa.bootstrap import Container, bootstrap
from outbox.relay import EPOCH_KEY, Relay
from schemas.outbox import OrderConfirmationEmail
from schemas.settings import Settings
from workers.queue import enqueue_rows, group_job_id, outbox_queue


def drained(queue: Queue) -> bool:
    return queue.count == 0 and StartedJobRegistry(queue=queue).count == 0


def test_kill_mid_group_after_the_effects_before_the_commit(
    container: Container, orders: Orders, worker_process: Callable[..., WorkerProcess]
) -> None:
    """One job carries ten decrements. The worker applies all ten to Redis and is killed
    before its commit (the SHARE lock holds its ``UPDATE … done``): the rows stay enqueued,
    the stale sweep re-delivers them, and the mirror counts each sale once."""
    container.mirror.replace("demo", {"MUG-WHITE": 50})
    ids = [orders.decrement(f"order-g{i}-stock") for i in range(10)]
    relay = Relay(container)
    assert relay.run_once() == 10
    assert len(outbox_queue(container.redis)) == 1, "ten rows of one kind and shop, one job"

    with psycopg.connect(container.settings.database_url) as blocker:
        blocker.execute("LOCK TABLE outbox IN SHARE MODE")
        first = worker_process()
        wait_for(
            lambda: container.mirror.levels("demo")["MUG-WHITE"] == 40,
            what="the worker to apply the group's effects",
        )
        first.kill()
        blocker.rollback()
    assert {(orders.row(i).state, orders.row(i).attempts) for i in ids} == {("enqueued", 0)}

    second = worker_process()
    wait_for(lambda: relay.run_once() >= 10, what="the stale sweep to re-enqueue the group")
    wait_for(
        lambda: set(orders.states(ids).values()) == {"done"},
        what="the second worker to finish",
        context=second.log_tail,
    )
    assert container.mirror.levels("demo")["MUG-WHITE"] == 40
    assert {orders.row(i).attempts for i in ids} == {1}


def test_a_failing_row_neither_blocks_nor_repeats_its_group(
    container: Container,
    settings: Settings,
    orders: Orders,
    relay_thread: Callable[[Container], RelayThread],
    worker_process: Callable[..., WorkerProcess],
    smtp_sink: Callable[..., SmtpSink],
) -> None:
    """Four confirmation emails in one job; the SMTP server always answers 451 for one
    recipient. The other three are sent once and done on the first run; the group's
    retries skip them; the failing row is dead after ``job_max_attempts``."""
    sink = smtp_sink()
    sink.refuse("busy@example.com")
    local = settings.model_copy(
        update={
            "smtp_host": "127.0.0.1",
            "smtp_port": sink.port,
            "relay_requeue_after_seconds": 3600,  # only RQ's retries of the group, no sweep
        }
    )
    container.settings = local
    emails = ["a@example.com", "b@example.com", "busy@example.com", "c@example.com"]
    rows = {}
    for address in emails:
        order = orders.order(email=address)
        message = OrderConfirmationEmail(shop_id="demo", order_id=order.id)
        rows[address] = orders.queue(message, f"order-{order.id}-email")
    failing = rows["busy@example.com"].id
    others = [r.id for a, r in rows.items() if a != "busy@example.com"]

    worker = worker_process(local)
    relay_thread(container)
    wait_for(
        lambda: orders.row(failing).state == "dead",
        timeout=60,
        what="the failing row to die",
        context=worker.log_tail,
    )
    dead = orders.row(failing)
    assert (dead.attempts, dead.last_error) == (3, "SMTPDataError:451")
    assert {(orders.row(i).state, orders.row(i).attempts) for i in others} == {("done", 1)}
    assert sorted(m["To"] for m in sink.messages) == [
        "a@example.com",
        "b@example.com",
        "c@example.com",
    ]

    queue = outbox_queue(container.redis)
    wait_for(lambda: drained(queue), what="the group's last run")
    job = Job.fetch(group_job_id(list(rows.values())), connection=container.redis)
    finished = [r.return_value for r in job.results() if r.return_value is not None]
    assert finished == [{**dict.fromkeys(others, "skipped"), failing: "dead"}], (
        "the others were done by an earlier run"
    )


def test_the_same_group_enqueued_three_times_applies_once(
    container: Container, orders: Orders, worker_process: Callable[..., WorkerProcess]
) -> None:
    container.mirror.replace("demo", {"MUG-WHITE": 50})
    ids = [orders.decrement(f"order-d{i}-stock") for i in range(10)]
    rows = [orders.row(i) for i in ids]
    queue = outbox_queue(container.redis)
    for _ in range(3):
        enqueue_rows(queue, rows, container.settings)
    job_id = group_job_id(rows)
    assert queue.job_ids == [job_id] * 3, "the job id is derived from the group alone"

    worker = worker_process()
    wait_for(lambda: drained(queue), what="the three copies to run", context=worker.log_tail)
    wait_for(lambda: len(Job.fetch(job_id, connection=container.redis).results()) == 3)
    outcomes = [r.return_value for r in Job.fetch(job_id, connection=container.redis).results()]
    assert outcomes.count(dict.fromkeys(ids, "done")) == 1, outcomes
    assert outcomes.count(dict.fromkeys(ids, "skipped")) == 2, outcomes
    assert container.mirror.levels("demo")["MUG-WHITE"] == 40
    assert {orders.row(i).attempts for i in ids} == {1}


@pytest.fixture
def own_redis() -> Iterator[list[EmbeddedRedis]]:
    servers: list[EmbeddedRedis] = []
    yield servers
    for server in servers:
        server.stop()


def test_redis_restarted_empty_mid_stream(
    settings: Settings,
    tmp_path: Path,
    own_redis: list[EmbeddedRedis],
    relay_thread: Callable[[Container], RelayThread],
    worker_process: Callable[..., WorkerProcess],
) -> None:
    """Groups of five flowing through relay and worker; Redis is stopped once some are
    done and comes back empty. Every row ends done (an attempt that failed on the outage
    counts, so a row may have used several); the relay rebuilds the mirror and marks every
    unfinished decrement applied, and each decrement queued after that applies once."""
    first = EmbeddedRedis(tmp_path / "redis-1")
    own_redis.append(first)
    first.start()
    local = settings.model_copy(
        update={
            "redis_url": first.url,
            "relay_requeue_after_seconds": 3600,
            "outbox_group_size": 5,
        }
    )
    c = bootstrap(local)
    orders = Orders(c)
    relay = relay_thread(c)
    try:
        c.mirror.replace("demo", {"MUG-WHITE": 10_000})
        worker = worker_process(local)
        before = [orders.decrement(f"order-r{i}-stock") for i in range(100)]
        wait_for(
            lambda: "done" in orders.states(before).values(),
            what="the stream to get going",
            context=worker.log_tail,
        )
        first.stop()
        during = [orders.decrement(f"order-q{i}-stock") for i in range(50)]
        second = EmbeddedRedis(tmp_path / "redis-2", port=first.port)
        own_redis.append(second)
        second.start()
        wait_for(lambda: c.redis.exists(EPOCH_KEY), what="the relay to restore the new Redis")
        after = [orders.decrement(f"order-p{i}-stock") for i in range(50)]

        everything = before + during + after
        wait_for(
            lambda: set(orders.states(everything).values()) == {"done"},
            timeout=60,
            what="every row to complete after Redis came back",
            context=worker.log_tail,
        )
        assert relay.alive()
        assert {orders.row(i).attempts for i in after} == {1}
        with c.uow() as uow:
            on_hand = uow.inventory.on_hand_by_sku("demo")["MUG-WHITE"]
        assert c.mirror.levels("demo")["MUG-WHITE"] == on_hand - len(after)
    finally:
        relay.stop()
        c.close()


def emails_in_one_group(
    container: Container, settings: Settings, orders: Orders, sink: SmtpSink, **update: int
) -> tuple[Settings, list[int]]:
    local = settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": sink.port, **update})
    container.settings = local
    ids = []
    for i in range(4):
        order = orders.order(email=f"c{i}@example.com")
        message = OrderConfirmationEmail(shop_id="demo", order_id=order.id)
        ids.append(orders.queue(message, f"order-{order.id}-email").id)
    return local, ids


def test_io_rows_of_a_group_run_at_once(
    container: Container,
    settings: Settings,
    orders: Orders,
    relay_thread: Callable[[Container], RelayThread],
    worker_process: Callable[..., WorkerProcess],
    smtp_sink: Callable[..., SmtpSink],
) -> None:
    """Four emails of one shop in one job: the SMTP server holds each until all four are
    in flight, which only a worker sending them side by side can satisfy."""
    sink = smtp_sink()
    sink.hold(until=4, seconds=DEADLINE)
    local, ids = emails_in_one_group(
        container, settings, orders, sink, worker_threads=8, worker_shop_concurrency=4
    )
    worker = worker_process(local)
    relay_thread(container)
    wait_for(
        lambda: set(orders.states(ids).values()) == {"done"},
        timeout=3 * DEADLINE,
        what="the four emails",
        context=worker.log_tail,
    )
    assert sink.max_in_flight == 4
    assert len(sink.messages) == 4


def test_one_shop_never_has_more_than_its_bound_in_flight(
    container: Container,
    settings: Settings,
    orders: Orders,
    relay_thread: Callable[[Container], RelayThread],
    worker_process: Callable[..., WorkerProcess],
    smtp_sink: Callable[..., SmtpSink],
) -> None:
    """With ``worker_shop_concurrency`` 2, eight threads still send a shop's four emails
    two at a time: the server, waiting for a third (in vain, 2 s), sees at most two."""
    sink = smtp_sink()
    sink.hold(until=3, seconds=2.0)
    local, ids = emails_in_one_group(
        container, settings, orders, sink, worker_threads=8, worker_shop_concurrency=2
    )
    worker = worker_process(local)
    relay_thread(container)
    wait_for(
        lambda: set(orders.states(ids).values()) == {"done"},
        timeout=3 * DEADLINE,
        what="the four emails",
        context=worker.log_tail,
    )
    assert sink.max_in_flight == 2
    assert len(sink.messages) == 4

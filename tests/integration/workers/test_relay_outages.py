"""The relay and the outbox gauges when something is missing or slow: Postgres out of
reach, no LISTEN connection to be had, the LISTEN connection cut, more due rows than one
pass takes, RQ behind with lingering switched off."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from integration.workers.outbox_support import Orders, RelayThread
from prometheus_client import REGISTRY

from devstack.processes import free_port, wait_for
from kassa.bootstrap import Container, bootstrap
from outbox.metrics import OutboxCollector
from outbox.relay import Relay
from schemas.settings import Settings
from workers.queue import outbox_queue


def cut_off(settings: Settings) -> Container:
    """A container whose Postgres is out of reach (nothing listens on its port)."""
    url = f"postgresql://kassa@127.0.0.1:{free_port()}/kassa"
    return bootstrap(settings.model_copy(update={"database_url": url}))


def listener_pids(container: Container) -> list[int]:
    with container.db.pool.connection() as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE query = 'LISTEN outbox'"
        ).fetchall()
    return [int(r["pid"]) for r in rows]


def relay_errors(error: str) -> float:
    value = REGISTRY.get_sample_value("kassa_outbox_relay_errors_total", {"error": error})
    return value or 0.0


def test_outbox_gauges_say_only_that_they_are_down_when_postgres_does_not_answer(
    container: Container, settings: Settings, orders: Orders, caplog: pytest.LogCaptureFixture
) -> None:
    orders.decrement("gauge-1")
    up = {m.name: m for m in OutboxCollector(container.uow).collect()}
    assert up["kassa_outbox_stats_up"].samples[0].value == 1
    assert {s.labels["state"]: s.value for s in up["kassa_outbox_rows"].samples}["pending"] == 1

    down = cut_off(settings)
    try:
        with caplog.at_level(logging.WARNING, logger="outbox.metrics"):
            families = list(OutboxCollector(down.uow).collect())
    finally:
        down.close()
    assert [(m.name, m.samples[0].value) for m in families] == [("kassa_outbox_stats_up", 0)]
    warned = [r for r in caplog.records if r.name == "outbox.metrics"]
    assert [(r.getMessage(), getattr(r, "error", None)) for r in warned] == [
        ("outbox metrics unavailable", "PoolTimeout")
    ]


def test_a_relay_that_cannot_reach_postgres_keeps_trying_and_stops_cleanly(
    settings: Settings, container: Container
) -> None:
    down = cut_off(settings)
    before = relay_errors("PoolTimeout")
    relay = RelayThread(Relay(down)).start()
    try:
        wait_for(lambda: relay_errors("PoolTimeout") >= before + 2, what="two failed passes")
        assert relay.alive()
    finally:
        relay.stop()  # asserts the thread ended
        down.close()


def test_a_relay_without_listen_polls(
    container: Container,
    settings: Settings,
    orders: Orders,
    relay_thread: Callable[[Container], RelayThread],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Postgres refuses the LISTEN connection (say, max_connections is reached) while the
    pool's connections work: rows still leave, on the poll interval."""
    refused = f"postgresql://kassa@127.0.0.1:{free_port()}/kassa"
    container.settings = settings.model_copy(update={"database_url": refused})
    with caplog.at_level(logging.WARNING, logger="outbox.relay"):
        relay_thread(container)
        row_id = orders.decrement("poll-1")
        wait_for(lambda: orders.row(row_id).state == "enqueued", what="the row to be relayed")
    assert "LISTEN unavailable; polling" in [r.getMessage() for r in caplog.records]
    assert listener_pids(container) == []


def test_a_relay_whose_listen_connection_is_cut_listens_again(
    container: Container,
    orders: Orders,
    relay_thread: Callable[[Container], RelayThread],
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="outbox.relay"):
        relay = relay_thread(container)
        wait_for(lambda: len(listener_pids(container)) == 1, what="the relay to LISTEN")
        [first] = listener_pids(container)
        with container.db.pool.connection() as conn:
            conn.execute("SELECT pg_terminate_backend(%s)", (first,))
        wait_for(
            lambda: len(pids := listener_pids(container)) == 1 and pids[0] != first,
            what="the relay to LISTEN on a new connection",
        )
    assert "LISTEN connection lost" in [r.getMessage() for r in caplog.records]
    assert relay.alive()
    row_id = orders.decrement("after-cut")
    wait_for(lambda: orders.row(row_id).state == "enqueued", what="the row to be relayed")


def test_more_due_rows_than_one_pass_takes_leave_at_once(
    container: Container, orders: Orders
) -> None:
    """Pass after pass without a pause: with a 60 s poll, and rows that were due before the
    relay listened (so no NOTIFY wakes it), only that gets all five out within seconds."""
    container.settings = container.settings.model_copy(update={"relay_poll_seconds": 60.0})
    ids = [orders.decrement(f"backlog-{i}") for i in range(5)]
    relay = RelayThread(Relay(container, batch_size=2)).start()
    try:
        wait_for(
            lambda: set(orders.states(ids).values()) == {"enqueued"},
            timeout=40,  # generous for a loaded machine, and still well inside the 60 s poll
            what="every row to be relayed",
        )
    finally:
        relay.stop()
    assert len(outbox_queue(container.redis).job_ids) >= 3  # at most two rows per pass


def test_without_linger_rows_leave_while_rq_is_behind(
    container: Container,
    orders: Orders,
    relay_thread: Callable[[Container], RelayThread],
) -> None:
    """No worker runs, so RQ keeps every job: a relay set not to linger does not wait for
    RQ to drain before relaying the next row (NOTIFY wakes it; the poll is 60 s)."""
    container.settings = container.settings.model_copy(
        update={"relay_poll_seconds": 60.0, "relay_linger_seconds": 0.0}
    )
    relay_thread(container)
    wait_for(lambda: len(listener_pids(container)) == 1, what="the relay to LISTEN")
    first = orders.decrement("no-linger-1")
    wait_for(lambda: orders.row(first).state == "enqueued", what="the first row", timeout=40)
    assert container.redis.llen(outbox_queue(container.redis).key) == 1
    second = orders.decrement("no-linger-2")
    wait_for(lambda: orders.row(second).state == "enqueued", what="the second row", timeout=40)

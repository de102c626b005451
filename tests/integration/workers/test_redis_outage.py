"""Redis stops, and comes back empty: the relay keeps running, rows written meanwhile wait
in Postgres, jobs Redis lost are enqueued again as soon as the relay notices the loss (not
by the stale sweep, which this test sets to an hour), the stock mirror is rebuilt from
Postgres, and every row completes exactly once. This test has its own Redis, so stopping
it harms no other."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from integration.workers.outbox_support import Orders, RelayThread, WorkerProcess
from prometheus_client import REGISTRY

from devstack.processes import wait_for
from devstack.services import EmbeddedRedis
from kassa.bootstrap import Container, bootstrap
from schemas.outbox import StockLine, StockMirrorDecrement
from schemas.settings import Settings


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[list[EmbeddedRedis]]:
    servers: list[EmbeddedRedis] = []
    yield servers
    for server in servers:
        server.stop()


def relay_errors() -> float:
    return sum(
        s.value
        for m in REGISTRY.collect()
        if m.name == "kassa_outbox_relay_errors"
        for s in m.samples
        if s.name.endswith("_total")
    )


def test_rows_survive_a_redis_restart(
    container: Container,
    settings: Settings,
    tmp_path: Path,
    own_redis: list[EmbeddedRedis],
    relay_thread: Callable[[Container], RelayThread],
    worker_process: Callable[..., WorkerProcess],
) -> None:
    first = EmbeddedRedis(tmp_path / "redis-1")
    own_redis.append(first)
    first.start()
    local = settings.model_copy(
        update={"redis_url": first.url, "relay_requeue_after_seconds": 3600}
    )
    c = bootstrap(local)
    orders = Orders(c)
    relay = relay_thread(c)
    try:

        def decrement(key: str) -> int:
            message = StockMirrorDecrement(
                shop_id="demo", order_reference=key, lines=[StockLine(sku="MUG-WHITE", quantity=1)]
            )
            return orders.queue(message, key).id

        # Enqueued while Redis is up, but no worker yet: these jobs live only in Redis.
        lost = [decrement(f"order-l{i}-stock") for i in range(3)]
        wait_for(
            lambda: set(orders.states(lost).values()) == {"enqueued"},
            what="the relay to enqueue",
        )
        first.stop()

        # Written while Redis is down: the relay's claims roll back; rows stay pending.
        errors_before = relay_errors()
        waiting = [decrement(f"order-w{i}-stock") for i in range(3)]
        wait_for(lambda: relay_errors() >= errors_before + 2, what="the relay to hit the outage")
        assert relay.alive()
        assert set(orders.states(waiting).values()) == {"pending"}
        assert set(orders.states(lost).values()) == {"enqueued"}

        worker = worker_process(local)  # starts while Redis is still down, and waits
        wait_for(lambda: "worker lost Redis" in worker.log_tail(), what="the worker to miss Redis")
        assert worker.proc is not None and worker.proc.poll() is None
        second = EmbeddedRedis(tmp_path / "redis-2", port=first.port)
        own_redis.append(second)
        second.start()

        everything = lost + waiting
        wait_for(
            lambda: set(orders.states(everything).values()) == {"done"},
            timeout=30,
            what="every row to complete after Redis came back",
            context=worker.log_tail,
        )
        assert relay.alive()
        # The new Redis started empty: the relay noticed, rebuilt the mirror from Postgres
        # (whose on_hand already counts these sales) and marked the decrements applied.
        with c.uow() as uow:
            assert c.mirror.levels("demo") == uow.inventory.on_hand_by_sku("demo")
        assert all(orders.row(i).attempts == 1 for i in everything)
    finally:
        relay.stop()
        c.close()

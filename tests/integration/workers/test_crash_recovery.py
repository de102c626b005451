"""A worker killed with SIGKILL loses no side effect and doubles none: the row stays
``enqueued``, the relay's stale sweep hands it to a new worker, and the dedupe key stops
the effect from being applied a second time."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
from integration.workers.outbox_support import Orders, WorkerProcess

from devstack.processes import wait_for
from kassa.bootstrap import Container
from outbox.relay import Relay
from schemas.outbox import StockLine, StockMirrorDecrement
from schemas.settings import Settings
from workers.queue import outbox_queue


def decrement(orders: Orders, key: str, sku: str, qty: int) -> int:
    message = StockMirrorDecrement(
        shop_id="demo", order_reference=key, lines=[StockLine(sku=sku, quantity=qty)]
    )
    return orders.queue(message, key).id


def test_kill_after_the_effect_before_the_commit(
    container: Container, orders: Orders, worker_process: Callable[..., WorkerProcess]
) -> None:
    """The worst moment: Redis already decremented, Postgres not yet told. A SHARE lock on
    the outbox table lets the worker lock its row (ROW SHARE) and apply the effect, but
    holds its ``UPDATE … done`` (ROW EXCLUSIVE) until we have killed it."""
    container.mirror.replace("demo", {"MUG-WHITE": 50})
    row_id = decrement(orders, "order-k1-stock", "MUG-WHITE", 2)
    relay = Relay(container)
    assert relay.run_once() == 1

    with psycopg.connect(container.settings.database_url) as blocker:
        blocker.execute("LOCK TABLE outbox IN SHARE MODE")
        first = worker_process()
        wait_for(
            lambda: container.mirror.levels("demo")["MUG-WHITE"] == 48,
            what="the worker to apply the effect",
        )
        first.kill()
        blocker.rollback()

    row = orders.row(row_id)
    assert (row.state, row.attempts) == ("enqueued", 0), "the kill must leave the row unfinished"

    worker_process()
    wait_for(lambda: relay.run_once() >= 1, what="the stale sweep to re-enqueue the row")
    wait_for(lambda: orders.row(row_id).state == "done", what="the second worker to finish")
    assert container.mirror.levels("demo")["MUG-WHITE"] == 48
    assert orders.row(row_id).attempts == 1


def test_kill_in_the_middle_of_a_stream_of_rows(
    container: Container,
    settings: Settings,
    orders: Orders,
    worker_process: Callable[..., WorkerProcess],
) -> None:
    """Wherever the kill lands in a stream of two hundred jobs of three rows (a popped job
    not yet started, one mid-transaction, one just committed), each decrement counts once."""
    container.settings = settings.model_copy(update={"outbox_group_size": 3})
    container.mirror.replace("demo", {"STICKERS": 1000})
    ids = [decrement(orders, f"order-s{i}-stock", "STICKERS", 1) for i in range(600)]
    relay = Relay(container, batch_size=600)
    assert relay.run_once() == 600
    assert len(outbox_queue(container.redis)) == 200

    first = worker_process()
    wait_for(
        lambda: list(orders.states(ids).values()).count("done") >= 5,
        what="the first worker to get going",
    )
    first.kill()
    done_at_kill = list(orders.states(ids).values()).count("done")
    assert done_at_kill < 600, "the worker finished before it could be killed"

    second = worker_process()

    def all_done() -> bool:
        relay.run_once()
        return set(orders.states(ids).values()) == {"done"}

    wait_for(all_done, what="every row to be done after the restart", context=second.log_tail)
    assert container.mirror.levels("demo")["STICKERS"] == 1000 - 600
    assert {orders.row(i).attempts for i in ids} == {1}

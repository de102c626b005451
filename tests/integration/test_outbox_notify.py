"""The outbox wakes the relay once per transaction that makes rows due, and never otherwise.

Postgres delivers notifications in commit order, so each check ends with a sentinel sent
in a later transaction: what arrives before it is everything the change under test sent,
with no waiting on a clock.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from psycopg.rows import TupleRow

from kassa.bootstrap import Container
from ops.seed import seed_shop_in

Conn = psycopg.Connection[TupleRow]


@pytest.fixture
def conns(container: Container) -> Iterator[tuple[Conn, Conn]]:
    with container.uow() as uow:
        seed_shop_in(uow, "demo", container.settings)
    url = container.settings.database_url
    with (
        psycopg.connect(url, autocommit=True) as writer,
        psycopg.connect(url, autocommit=True) as listener,
    ):
        listener.execute("LISTEN outbox")
        yield writer, listener


def sent_by(writer: Conn, listener: Conn, *statements: str) -> list[str]:
    with writer.transaction():
        for sql in statements:
            writer.execute(sql)  # type: ignore[arg-type]
    writer.execute("SELECT pg_notify('outbox', 'sentinel')")
    payloads: list[str] = []
    for note in listener.notifies(timeout=30):
        if note.payload == "sentinel":
            return payloads
        payloads.append(note.payload)
    raise AssertionError("the sentinel never arrived")


def insert(*keys: str) -> str:
    values = ", ".join(f"('demo', 'k', '{{}}', '{k}')" for k in keys)
    return f"INSERT INTO outbox (shop_id, kind, payload, dedupe_key) VALUES {values}"


def test_an_order_worth_of_rows_wakes_the_relay_once(conns: tuple[Conn, Conn]) -> None:
    writer, listener = conns
    assert sent_by(writer, listener, insert("a", "b", "c"), insert("d")) == [""]


def test_rows_leaving_pending_wake_nobody_and_a_replay_wakes_once(
    conns: tuple[Conn, Conn],
) -> None:
    writer, listener = conns
    sent_by(writer, listener, insert("a", "b"))

    assert sent_by(writer, listener, "UPDATE outbox SET state = 'enqueued'") == []
    assert sent_by(writer, listener, "UPDATE outbox SET state = 'done'") == []
    assert sent_by(writer, listener, "UPDATE outbox SET state = 'pending'") == [""]

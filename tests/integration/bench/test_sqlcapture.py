"""The pgbench reference replays what a request really ran: captured from Postgres's log,
nothing of it persisted, and replayed per client without breaking unique keys."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import sqlcapture
from stack import Stack

from devstack.services import Services

SCHEMA = """
    DROP TABLE IF EXISTS cap_child, cap_parent, cap_hot;
    CREATE TABLE cap_parent (id serial PRIMARY KEY);
    CREATE TABLE cap_child (
        parent_id int NOT NULL REFERENCES cap_parent, note text UNIQUE, extra text
    );
    CREATE TABLE cap_hot (id int PRIMARY KEY, n int NOT NULL);
    INSERT INTO cap_hot VALUES (1, 0);
"""


@pytest.fixture
def stack(services: Services) -> Iterator[Stack]:
    if services.postgres is None:
        pytest.skip("needs the embedded Postgres (its server log)")
    with psycopg.connect(services.database_url, autocommit=True) as conn:
        conn.execute(SCHEMA)
    stack = Stack(
        web_urls=[],
        stripe_url="",
        database_url=services.database_url,
        redis_url=services.redis_url,
        env={},
        owned=True,
        services=services,
    )
    yield stack
    sqlcapture.drop_params(stack)
    with psycopg.connect(services.database_url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS cap_child, cap_parent, cap_hot")


def request(database_url: str, note: str) -> None:
    """What a request does: a parent whose returned id feeds the child, a hot row."""
    with psycopg.connect(database_url) as conn:
        parent = conn.execute("INSERT INTO cap_parent DEFAULT VALUES RETURNING id").fetchone()
        assert parent is not None
        conn.execute(
            "INSERT INTO cap_child (parent_id, note, extra) VALUES (%s, %s, %s)",
            (parent[0], note, None),
        )
        conn.execute("UPDATE cap_hot SET n = n + %s WHERE id = 1", (1,))


def counts(database_url: str) -> tuple[int, int]:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM cap_child), (SELECT n FROM cap_hot WHERE id = 1)"
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def test_captured_transactions_replay_per_client_and_persist_nothing(
    stack: Stack, tmp_path: Path
) -> None:
    def failed_request(note: str) -> None:
        with pytest.raises(psycopg.errors.SerializationFailure):
            request(stack.database_url, note)

    with sqlcapture.statement_logging(stack), sqlcapture.failing_commit(stack, "cap_child"):
        captures = sqlcapture.capture(
            stack,
            [
                lambda: failed_request("it's the first"),  # a quote, escaped in the log
                lambda: failed_request("second"),
            ],
        )

    assert counts(stack.database_url) == (0, 0)  # the failing COMMIT kept nothing
    with psycopg.connect(stack.database_url) as conn:
        assert conn.execute("SHOW log_statement").fetchone() == ("none",)  # reset afterwards
    assert [s.word for s in captures[0]] == ["BEGIN", "INSERT", "INSERT", "UPDATE", "COMMIT"]
    assert captures[0][2].params[1:] == ("it's the first", None)
    assert captures[1][2].params[1:] == ("second", None)
    assert captures[0][3].params == ("1",)

    # The child's parent id came back from the parent's insert: the replay's own parent
    # has another id, so that foreign key cannot be checked.
    assert sqlcapture.failing_foreign_key(stack, captures, tmp_path) == "cap_child_parent_id_fkey"
    script = tmp_path / "replay.sql"
    count = sqlcapture.pgbench_script(stack, captures, script, pipeline=True, fk_checks=False)
    text = script.read_text()
    assert count == 5
    assert "ROLLBACK;" in text and "COMMIT" not in text
    assert "\\startpipeline" in text and "NULL" in text  # NULL stays a literal

    with sqlcapture.triggers_always(stack):
        result = sqlcapture.run_pgbench(
            stack, script, 2, 1, pipeline=True, fk_checks=False, statements=count
        )
    assert result.transactions > 0 and result.tps > 0
    # Two clients, each with its own unique note: no unique violation, nothing kept.
    assert counts(stack.database_url) == (0, 0)


def test_a_request_that_commits_is_refused_as_a_capture(stack: Stack) -> None:
    with (
        sqlcapture.statement_logging(stack),
        pytest.raises(sqlcapture.StackError, match="failing COMMIT"),
    ):
        sqlcapture.capture(stack, [lambda: request(stack.database_url, "kept")])
    assert counts(stack.database_url) == (1, 1)


def test_a_transaction_only_some_requests_ran_is_left_out(stack: Stack) -> None:
    """Like the web's shop lookup when its cache has just expired for one request."""

    def with_refill() -> None:
        with psycopg.connect(stack.database_url) as conn:
            conn.execute("SELECT n FROM cap_hot WHERE id = %s", (1,))
        with pytest.raises(psycopg.errors.SerializationFailure):
            request(stack.database_url, "refilled")

    def without() -> None:
        with pytest.raises(psycopg.errors.SerializationFailure):
            request(stack.database_url, "cached")

    with sqlcapture.statement_logging(stack), sqlcapture.failing_commit(stack, "cap_child"):
        captures = sqlcapture.capture(stack, [with_refill, without])

    for c in captures:  # the refill's BEGIN, SELECT, COMMIT are gone
        assert [s.word for s in c] == ["BEGIN", "INSERT", "INSERT", "UPDATE", "COMMIT"]
    assert [c[2].params[1] for c in captures] == ["refilled", "cached"]

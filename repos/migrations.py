"""Apply the plain-SQL migrations in order, once each, recorded by yoyo-migrations."""

from __future__ import annotations

import time
from pathlib import Path

import psycopg
from yoyo import get_backend, read_migrations

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# One number for "a Kassa migration runs": every replica's `kassa migrate` takes it first.
ADVISORY_LOCK_KEY = 0x6B61737361  # "kassa"
APPLICATION_NAME = "kassa migrate"
LOCK_POLL_SECONDS = 0.2


def yoyo_url(database_url: str) -> str:
    """yoyo picks its driver from the scheme; ``postgresql://`` would ask for psycopg2."""
    scheme, _, rest = database_url.partition("://")
    if scheme in {"postgres", "postgresql"}:
        return f"postgresql+psycopg://{rest}"
    return database_url


def _try_lock(conn: psycopg.Connection[tuple[object, ...]]) -> bool:
    row = conn.execute("SELECT pg_try_advisory_lock(%s)", (ADVISORY_LOCK_KEY,)).fetchone()
    return bool(row and row[0])


def migrate(database_url: str) -> list[str]:
    """Apply what is pending, one process at a time.

    Several replicas may run ``kassa migrate`` at once on deploy. yoyo's own lock is a row in
    a table that yoyo first has to create, so two first runs can still collide; a session-level
    Postgres advisory lock, taken before yoyo touches anything, makes the others wait and then
    find nothing pending. It is released when this connection closes, even if we crash.
    """
    with psycopg.connect(database_url, autocommit=True, application_name=APPLICATION_NAME) as guard:
        # Polled, not waited for: a session blocked in pg_advisory_lock() holds a snapshot,
        # and the holder's CREATE INDEX CONCURRENTLY waits for every older snapshot (a
        # deadlock the server does not see). Between two tries this session holds none.
        while not _try_lock(guard):
            time.sleep(LOCK_POLL_SECONDS)
        backend = get_backend(yoyo_url(database_url))
        migrations = read_migrations(str(MIGRATIONS_DIR))
        with backend.lock():
            pending = backend.to_apply(migrations)
            backend.apply_migrations(pending)
        backend.connection.close()
        guard.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))
    return [m.id for m in pending]

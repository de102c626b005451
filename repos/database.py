"""The connection pool: opened once per process by the composition root, never at import."""

from __future__ import annotations

import time
import weakref

from psycopg import Connection
from psycopg.rows import DictRow, dict_row
from psycopg_pool import ConnectionPool

RECHECK_IDLE_SECONDS = 2.0
"""A connection idle longer than this is checked (one round trip) before it is handed out."""


class Database:
    def __init__(self, url: str, max_size: int = 10, timeout: float = 5.0) -> None:
        self.url = url
        self.pool: ConnectionPool[Connection[DictRow]] = ConnectionPool(
            url,
            min_size=1,
            max_size=max_size,
            kwargs={"row_factory": dict_row, "connect_timeout": 5},
            connection_class=Connection[DictRow],
            open=False,
            timeout=timeout,
            check=self._check,
            reset=self._returned,
        )
        self._last_used: weakref.WeakKeyDictionary[Connection[DictRow], float] = (
            weakref.WeakKeyDictionary()
        )

    def _returned(self, conn: Connection[DictRow]) -> None:
        self._last_used[conn] = time.monotonic()

    def _check(self, conn: Connection[DictRow]) -> None:
        """A connection that died with a Postgres restart is replaced, not handed out. Only
        idle ones are checked: one that worked a moment ago is almost surely alive, and if
        it is not, its request fails as a transient error (503) and the pool drops it."""
        last = self._last_used.get(conn)
        if last is None or time.monotonic() - last > RECHECK_IDLE_SECONDS:
            ConnectionPool.check_connection(conn)

    def open(self) -> Database:
        self.pool.open(wait=False)
        return self

    def close(self) -> None:
        self.pool.close()

    def ping(self) -> bool:
        with self.pool.connection(timeout=2) as conn:
            return conn.execute("SELECT 1 AS ok").fetchone() is not None

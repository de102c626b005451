"""The connection pool: opened once per process by the composition root, never at import."""

from __future__ import annotations

from psycopg import Connection
from psycopg.rows import DictRow, dict_row
from psycopg_pool import ConnectionPool


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
            # A connection that died with a Postgres restart is replaced, not handed out.
            check=ConnectionPool.check_connection,
        )

    def open(self) -> Database:
        self.pool.open(wait=False)
        return self

    def close(self) -> None:
        self.pool.close()

    def ping(self) -> bool:
        with self.pool.connection(timeout=2) as conn:
            return conn.execute("SELECT 1 AS ok").fetchone() is not None

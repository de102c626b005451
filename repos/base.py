"""What every repository shares: the unit of work's connection and row-to-model helpers."""

from __future__ import annotations

from typing import TypeVar

from psycopg import Connection
from psycopg.abc import Params, QueryNoTemplate
from psycopg.rows import DictRow
from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)


def locking(sql: str, lock: bool) -> str:
    """The query, with ``FOR UPDATE`` when the caller will change what it reads."""
    return f"{sql} FOR UPDATE" if lock else sql


class Repository:
    def __init__(self, conn: Connection[DictRow]) -> None:
        self.conn = conn

    def _one(self, model: type[M], sql: QueryNoTemplate, params: Params | None = None) -> M | None:
        row = self.conn.execute(sql, params).fetchone()
        return model.model_validate(row) if row is not None else None

    def _all(self, model: type[M], sql: QueryNoTemplate, params: Params | None = None) -> list[M]:
        return [model.model_validate(r) for r in self.conn.execute(sql, params).fetchall()]

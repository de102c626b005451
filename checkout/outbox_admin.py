"""Dead letters for ops: list outbox rows and put dead ones back to pending.

The one service behind ``kassa dlq`` and ``/ops/outbox``: both entry points call these
functions, so a replay from the shell and one over HTTP are the same operation.
"""

from __future__ import annotations

import logging
from datetime import datetime

from pydantic import BaseModel, ConfigDict, RootModel

from repos.unit_of_work import UnitOfWork
from schemas.records import OutboxRow, OutboxState

log = logging.getLogger(__name__)

LIST_LIMIT = 500


class OutboxEntry(BaseModel):
    """An outbox row as ops see it: no payload (identifiers only, but not needed to act)."""

    model_config = ConfigDict(frozen=True)

    id: int
    shop_id: str
    kind: str
    dedupe_key: str
    state: OutboxState
    attempts: int
    last_error: str | None
    created_at: datetime

    @classmethod
    def of(cls, row: OutboxRow) -> OutboxEntry:
        return cls.model_validate(row.model_dump(exclude={"payload"}))


class OutboxList(RootModel[list[OutboxEntry]]):
    """``GET /ops/outbox``: a JSON list of entries."""


class Replayed(BaseModel):
    replayed: list[int]


def rows(
    uow: UnitOfWork, state: OutboxState = "dead", kind: str | None = None, limit: int = LIST_LIMIT
) -> list[OutboxEntry]:
    return [OutboxEntry.of(r) for r in uow.outbox.by_state(state, kind, limit)]


def dead_rows(uow: UnitOfWork, kind: str | None = None) -> list[OutboxEntry]:
    return rows(uow, "dead", kind)


def replay(uow: UnitOfWork, ids: list[int] | None, kind: str | None = None) -> list[int]:
    """Dead rows (these ids, or all when None; optionally of one kind) back to pending with
    a fresh attempt budget. Returns the ids actually replayed; rows that are not dead are
    left alone. The relay picks them up on the NOTIFY their update fires."""
    replayed = uow.outbox.replay(ids, kind)
    if replayed:
        log.info("outbox rows replayed", extra={"outbox_ids": replayed, "kind": kind})
    return replayed

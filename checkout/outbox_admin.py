"""Dead letters for ops: list outbox rows and put dead ones back to pending.

The one service behind ``kassa dlq`` and ``/ops/outbox``: both entry points call these
functions, so a replay from the shell and one over HTTP are the same operation.
"""

from __future__ import annotations

import logging

from checkout.ports import Services
from schemas.ops import OutboxEntry
from schemas.records import OutboxState

log = logging.getLogger(__name__)

LIST_LIMIT = 500


def rows(
    services: Services,
    state: OutboxState = "dead",
    kind: str | None = None,
    limit: int = LIST_LIMIT,
) -> list[OutboxEntry]:
    with services.uow() as uow:
        return [OutboxEntry.of(r) for r in uow.outbox.by_state(state, kind, limit)]


def dead_rows(services: Services, kind: str | None = None) -> list[OutboxEntry]:
    return rows(services, "dead", kind)


def replay(services: Services, ids: list[int] | None, kind: str | None = None) -> list[int]:
    """Dead rows (these ids, or all when None; optionally of one kind) back to pending with
    a fresh attempt budget. Returns the ids actually replayed; rows that are not dead are
    left alone. The relay picks them up on the NOTIFY their update fires."""
    with services.uow() as uow:
        replayed = uow.outbox.replay(ids, kind)
    if replayed:
        log.info("outbox rows replayed", extra={"outbox_ids": replayed, "kind": kind})
    return replayed

"""Dead letters for ops: list outbox rows and put dead ones back to pending.

The one service behind ``kassa dlq`` and ``/ops/outbox``: both entry points call these
functions, so a replay from the shell and one over HTTP are the same operation.
"""

from __future__ import annotations

import logging
from typing import get_args

from checkout.errors import NotFound
from checkout.ports import Services
from repos.unit_of_work import UnitOfWork
from schemas.ops import OutboxEntry, OutboxHealth, Replayed
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


def health(services: Services, shop_id: str) -> OutboxHealth:
    """One shop's outbox: depth by state, the oldest due pending row's age, dead rows."""
    with services.uow() as uow:
        depth, oldest = uow.outbox.stats(shop_id)
        dead = uow.outbox.by_state("dead", limit=LIST_LIMIT, shop_id=shop_id)
    return OutboxHealth(
        depth={state: depth.get(state, 0) for state in get_args(OutboxState)},
        oldest_pending_seconds=oldest,
        dead=[OutboxEntry.of(r) for r in dead],
    )


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


def replay_dead_in(uow: UnitOfWork, row_id: int, shop_id: str) -> tuple[int, Replayed]:
    """One dead row of one shop back to pending, in the caller's transaction (the merchant
    console's replay button, an audited merchant write); NotFound if it is not dead or not
    the shop's, so nothing else is touched."""
    replayed = uow.outbox.replay([row_id], shop_id=shop_id)
    if not replayed:
        raise NotFound("This event is not dead (any more), or not of this shop.")
    log.info("outbox rows replayed", extra={"outbox_ids": replayed, "shop_id": shop_id})
    return 200, Replayed(replayed=replayed)

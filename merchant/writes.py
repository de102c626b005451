"""Every merchant write goes through ``perform``: one transaction that replays a stored
answer for a known Idempotency-Key, or does the write, audits it and stores its answer.

Storing the answer in the write's own transaction makes a replay exact: either both the
change and its answer committed, or neither did. Twins with one key are serialized by an
advisory lock, so the second waits and then replays the first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pydantic import BaseModel, JsonValue

from checkout.errors import IdempotencyKeyReused
from checkout.ports import Services
from repos.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class Actor:
    """Who acts for a shop: an API key (``api_key:<id>``), the operator, or the CLI."""

    shop_id: str
    label: str
    key_id: str | None = None


@dataclass(frozen=True)
class WriteResult:
    status: int
    body: JsonValue
    replayed: bool


Change = Callable[[UnitOfWork], tuple[int, BaseModel]]


def perform(
    services: Services,
    actor: Actor,
    action: str,
    subject: str | None,
    change: Change,
    *,
    idempotency_key: str | None,
    fingerprint: str,
    details: dict[str, JsonValue] | None = None,
) -> WriteResult:
    """Run ``change`` (a function of the caller's transaction, returning status and body)
    once per (shop, Idempotency-Key); ``fingerprint`` names the request so the same key
    with a different request is refused instead of answered with the wrong result."""
    with services.uow() as uow:
        if idempotency_key is not None:
            uow.idempotency.lock(actor.shop_id, idempotency_key)
            stored = uow.idempotency.get(actor.shop_id, idempotency_key)
            if stored is not None:
                if stored.fingerprint != fingerprint:
                    raise IdempotencyKeyReused(
                        "This Idempotency-Key was already used for a different request."
                    )
                return WriteResult(stored.status_code, stored.response, replayed=True)
        status, model = change(uow)
        body = model.model_dump(mode="json")
        audit = {**(details or {}), "status": status}
        if idempotency_key is not None:
            audit["idempotency_key"] = idempotency_key
        uow.audit.add(actor.shop_id, f"merchant.{action}", subject, audit, actor=actor.label)
        if idempotency_key is not None:
            uow.idempotency.save(actor.shop_id, idempotency_key, fingerprint, status, body)
        return WriteResult(status, body, replayed=False)

"""Bodies of the operator's endpoints and commands (``/ops``, ``kassa dlq``,
``kassa reconcile``): outbox rows as ops see them, and what reconciliation found."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, RootModel

from schemas.records import OutboxRow, OutboxState


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


class OutboxHealth(BaseModel):
    """One shop's side effects at a glance (the merchant console): rows per state, how long
    the oldest due pending row has waited (the relay's lag; 0 when none waits), and the
    dead rows waiting for a replay."""

    depth: dict[OutboxState, int]
    oldest_pending_seconds: float
    dead: list[OutboxEntry]


class PaymentDrift(BaseModel):
    shop_id: str
    order_reference: str
    payment_intent_id: str
    ours: str
    stripe: str


class SkuDrift(BaseModel):
    sku: str
    mirror: int | None
    postgres: int | None


class MirrorReport(BaseModel):
    shop_id: str
    drift: list[SkuDrift]
    repaired: bool


class SessionReport(BaseModel):
    shop_id: str
    checkout_id: str
    session_id: str
    outcome: str
    order_reference: str | None = None


class ReconcileReport(BaseModel):
    mirrors: list[MirrorReport] = Field(default_factory=list)
    sessions_checked: int = 0
    events_checked: int = 0
    sessions: list[SessionReport] = Field(default_factory=list)
    payments_checked: int = 0
    payments: list[PaymentDrift] = Field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not any(m.drift for m in self.mirrors) and not self.sessions and not self.payments

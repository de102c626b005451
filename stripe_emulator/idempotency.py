"""Stripe's idempotency layer: the first response under a key is replayed for 24 hours.

Keys are scoped per account. A record is claimed before the endpoint runs (a
concurrent request then gets 409) and filled with the endpoint's response, errors
included. Validation failures, auth failures and injected faults store nothing.
The store is not thread-safe itself: callers hold the state lock.
"""

from __future__ import annotations

from dataclasses import dataclass

from stripe_emulator import defaults
from stripe_emulator.deadlines import DueQueue
from stripe_emulator.errors import (
    idempotency_endpoint_mismatch,
    idempotency_key_in_use,
    idempotency_params_mismatch,
)


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: str
    request_id: str


@dataclass
class _Record:
    method: str
    path: str
    fingerprint: str
    created: int
    response: StoredResponse | None = None


@dataclass(frozen=True)
class Claim:
    """Proof that this request owns the key until it finishes or abandons it."""

    slot: tuple[str, str]
    record: _Record


class IdempotencyStore:
    def __init__(self) -> None:
        self._records: dict[tuple[str, str], _Record] = {}
        self._expiry: DueQueue[tuple[tuple[str, str], _Record]] = DueQueue()

    def begin(
        self, account: str, key: str, method: str, path: str, fingerprint: str, now: int
    ) -> Claim | StoredResponse:
        slot = (account, key)
        record = self._records.get(slot)
        if record is not None and now - record.created >= defaults.IDEMPOTENCY_KEY_TTL_SECONDS:
            del self._records[slot]
            record = None
        if record is None:
            record = _Record(method=method, path=path, fingerprint=fingerprint, created=now)
            self._records[slot] = record
            self._expiry.push(now + defaults.IDEMPOTENCY_KEY_TTL_SECONDS, (slot, record))
            return Claim(slot, record)
        if record.response is None:
            raise idempotency_key_in_use(key)
        if (record.method, record.path) != (method, path):
            raise idempotency_endpoint_mismatch(key)
        if record.fingerprint != fingerprint:
            raise idempotency_params_mismatch(key)
        return record.response

    def finish(self, claim: Claim, response: StoredResponse) -> None:
        if self._records.get(claim.slot) is claim.record:
            claim.record.response = response

    def abandon(self, claim: Claim) -> None:
        if self._records.get(claim.slot) is claim.record:
            del self._records[claim.slot]

    def prune(self, now: int) -> None:
        """Forget keys 24 h old. One whose request is still running goes too, as `begin`
        would replace it: that request's `finish` then finds it gone and stores nothing."""
        for slot, record in self._expiry.pop_due(now):
            if self._records.get(slot) is record:
                del self._records[slot]

    @property
    def visits(self) -> int:
        return self._expiry.visits

    def clear(self) -> None:
        self._records.clear()
        self._expiry.clear()

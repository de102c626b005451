"""Events: the record of what happened to an account, and the source of webhooks.

Each operation collects its events in an `EventRecorder`; they are handed to the
webhook dispatcher together, as one batch, once the operation has finished.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

from stripe_emulator import defaults
from stripe_emulator.errors import invalid_param
from stripe_emulator.ids import new_id
from stripe_emulator.models import Account, Event

_EVENT_TYPE = re.compile(r"[a-z_]+(\.[a-z_]+)+")


@dataclass(frozen=True)
class RequestContext:
    """What an event's `request` field reports: null for dashboard-like actions."""

    request_id: str | None = None
    idempotency_key: str | None = None


@dataclass
class EventRecorder:
    account: Account
    now: int
    context: RequestContext = field(default_factory=RequestContext)
    events: list[Event] = field(default_factory=list)

    def emit(self, event_type: str, snapshot: dict[str, Any]) -> Event:
        event = Event(
            id=new_id("evt"),
            created=self.now,
            type=event_type,
            snapshot=copy.deepcopy(snapshot),
            request_id=self.context.request_id,
            idempotency_key=self.context.idempotency_key,
            api_version=defaults.API_VERSION,
        )
        self.account.events[event.id] = event
        self.events.append(event)
        return event


def type_matcher(pattern: str) -> re.Pattern[str]:
    """`type` filter of GET /v1/events: exact, or with `*` wildcards (`checkout.session.*`)."""
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")))


def check_event_type(name: str, value: str) -> str:
    if value != "*" and not _EVENT_TYPE.fullmatch(value):
        raise invalid_param(name, f"Invalid {name}: `{value}` is not an event type.")
    return value

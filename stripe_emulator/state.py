"""All the emulator remembers, behind one lock: accounts, idempotency keys, faults, clock.

Accounts are explicit, as on Stripe: a key authenticates only if it was registered
(POST /_emulator/accounts), unless `auto_accounts` is on, which opens an account for any
well-formed test key on first use (the default, so tests and `kassa dev` need no setup).

Operations hold the lock briefly and never while delivering webhooks or while a
fault makes a request hang. Events an operation records are published to the
webhook dispatcher before the lock is released, as one batch.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from stripe_emulator import checkout, objects, payments
from stripe_emulator.clock import Clock
from stripe_emulator.errors import StripeError, unregistered_api_key
from stripe_emulator.events import EventRecorder, RequestContext
from stripe_emulator.faults import FaultBook
from stripe_emulator.idempotency import IdempotencyStore
from stripe_emulator.latency import Latency
from stripe_emulator.models import Account, CheckoutSession
from stripe_emulator.webhooks import Delivery, WebhookDispatcher


class EmulatorState:
    def __init__(
        self,
        dispatcher: WebhookDispatcher,
        clock: Clock | None = None,
        *,
        auto_accounts: bool = True,
        latency: Latency | None = None,
        public_url: str | None = None,
    ) -> None:
        self.lock = threading.RLock()
        self.clock = clock or Clock()
        self.webhooks = dispatcher
        self.idempotency = IdempotencyStore()
        self.faults = FaultBook()
        # Has its own lock: calls wait out their delay without holding the state lock.
        self.latency = latency or Latency()
        # Set on shutdown so hanging or slow requests wake up and finish.
        self.stopping = threading.Event()
        self._configured_auto_accounts = auto_accounts
        self.auto_accounts = auto_accounts
        # Where browsers reach the hosted pages; None: the address each API call came to.
        self.public_url = public_url
        self._accounts: dict[str, Account] = {}
        dispatcher.attach(self)

    def account(self, api_key: str) -> Account:
        """The key's account; a key never registered is refused unless auto_accounts is on."""
        account = self._accounts.get(api_key)
        if account is None:
            if not self.auto_accounts:
                raise unregistered_api_key(api_key)
            account = self.register(api_key)
        return account

    def register(self, api_key: str) -> Account:
        account = self._accounts.get(api_key)
        if account is None:
            account = self._accounts[api_key] = Account(api_key)
        return account

    def accounts_json(self) -> dict[str, Any]:
        return {"auto_create": self.auto_accounts, "accounts": list(self._accounts)}

    def find_session(self, session_id: str) -> tuple[Account, CheckoutSession]:
        """Sessions by id across accounts, for the hosted page and the test controls."""
        for account in self._accounts.values():
            session = account.checkout_sessions.get(session_id)
            if session is not None:
                return account, session
        raise StripeError(
            404, f"No such checkout.session: '{session_id}'", code="resource_missing", param="id"
        )

    def recorder(self, account: Account, context: RequestContext | None = None) -> EventRecorder:
        return EventRecorder(account, self.clock.now(), context or RequestContext())

    def publish(self, recorder: EventRecorder) -> None:
        account = recorder.account
        deliveries = [
            Delivery(account.api_key, event.id, event.type, endpoint.id, endpoint.url)
            for event in recorder.events
            for endpoint in account.webhook_endpoints.values()
            if endpoint.wants(event.type)
        ]
        if not deliveries:
            return
        for event_id, jobs in self.webhooks.submit(deliveries).items():
            account.events[event_id].pending_webhooks += jobs

    def sweep(self) -> None:
        """Apply the passage of time: expire sessions, lapse holds, forget old keys.

        Runs before every call, so it visits only what fell due (see `deadlines`).
        """
        now = self.clock.now()
        for account in self._accounts.values():
            for kind, object_id in account.deadlines.pop_due(now):
                recorder = self.recorder(account)
                if kind == "checkout.session":
                    checkout.expire_if_due(account, object_id, recorder)
                else:
                    payments.lapse_if_due(account, object_id, recorder)
                self.publish(recorder)
        self.idempotency.prune(now)

    @property
    def sweep_visits(self) -> int:
        """Entries `sweep` has examined: grows with what fell due, never with what is held."""
        return self.idempotency.visits + sum(a.deadlines.visits for a in self._accounts.values())

    def advance_clock(self, seconds: int) -> int:
        now = self.clock.advance(seconds)
        self.sweep()
        return now

    def reset(self) -> None:
        """Forget everything, registered keys included; settings go back to the configured."""
        self._accounts.clear()
        self.auto_accounts = self._configured_auto_accounts
        self.latency.reset()
        self.idempotency.clear()
        self.faults.clear()
        self.clock.reset()
        self.webhooks.reset()

    def counts(self) -> dict[str, Any]:
        return {
            "accounts": {
                key: {
                    "checkout_sessions": len(account.checkout_sessions),
                    "payment_intents": len(account.payment_intents),
                    "refunds": len(account.refunds),
                    "customers": len(account.customers),
                    "events": len(account.events),
                    "webhook_endpoints": len(account.webhook_endpoints),
                }
                for key, account in self._accounts.items()
            },
            "webhooks": self.webhooks.stats(),
        }

    def delivery_payload(self, delivery: Delivery) -> tuple[bytes, str, str] | None:
        with self.lock:
            account = self._accounts.get(delivery.account)
            if account is None:
                return None
            event = account.events.get(delivery.event_id)
            endpoint = account.webhook_endpoints.get(delivery.endpoint_id)
            if event is None or endpoint is None or endpoint.status != "enabled":
                return None
            body = json.dumps(objects.event_json(event), indent=2).encode()
            return body, endpoint.secret, endpoint.url

    def delivery_settled(self, delivery: Delivery) -> None:
        with self.lock:
            account = self._accounts.get(delivery.account)
            event = account.events.get(delivery.event_id) if account else None
            if event is not None:
                event.pending_webhooks = max(0, event.pending_webhooks - 1)

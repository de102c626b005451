"""Real moving parts for the outbox tests: worker processes started with subprocess, an
in-thread relay, an SMTP sink, the real command line, and a writer of orders and outbox
rows that goes through the repositories. Nothing of ours is mocked."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from rq import Worker
from rq.job import Job

from devstack.processes import Supervisor, free_port, wait_for
from kassa.bootstrap import Container
from outbox.relay import Relay
from schemas.merchant_events import MerchantEvent
from schemas.outbox import Message, StockLine, StockMirrorDecrement
from schemas.records import (
    CheckoutRecord,
    CheckoutState,
    OrderRecord,
    OrderStatus,
    OutboxRow,
    PaymentRecord,
    PricedLine,
)
from schemas.settings import Settings
from schemas.stripe import StripeLineItem, StripeLineItemPriceData, StripeSessionConfig
from workers.queue import outbox_queue

ROOT = Path(__file__).resolve().parents[3]
DEADLINE = 30.0
"""Generous: only a failing test waits it out, and a loaded machine can be very slow."""


def job_outcomes(container: Container, job_id: str) -> list[Any]:
    """What every run of the job returned, newest first (RQ keeps each run's result).

    This, not "queue empty and nothing in StartedJobRegistry", is how a test knows runs
    are over: a worker pops a job from the queue *before* it adds it to the registry, so
    for a moment a job about to run is in neither."""
    job = Job.fetch(job_id, connection=container.redis)
    return [r.return_value for r in job.results()]


def env_for(settings: Settings) -> dict[str, str]:
    """The environment that makes a child process read exactly these settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KASSA_")}
    for name, info in Settings.model_fields.items():
        value = getattr(settings, name)
        if info.alias and value is not None:
            env[info.alias] = str(value)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    """The real ``kassa`` command line, as ops would run it."""
    return subprocess.run(
        [sys.executable, "-m", "ops.cli", *args],
        cwd=ROOT,
        env=env_for(settings),
        capture_output=True,
        text=True,
        timeout=60,
    )


@dataclass
class WorkerProcess:
    """``kassa worker`` under a ``Supervisor`` of its own, in its own process group (so SIGKILL
    takes its scheduler too), SIGKILLed by the kernel if the test process dies."""

    settings: Settings
    log_path: Path
    sup: Supervisor | None = None

    @property
    def name(self) -> str:
        return self.log_path.stem

    def start(self) -> WorkerProcess:
        self.sup = Supervisor(
            self.log_path.parent, env_for(self.settings), cwd=ROOT, death_signal=signal.SIGKILL
        )
        self.sup.spawn(self.name, "ops.cli", "worker")
        return self

    @property
    def proc(self) -> subprocess.Popen[bytes] | None:
        return self.sup.children.get(self.name) if self.sup else None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def wait_ready(self, container: Container, timeout: float = DEADLINE) -> None:
        """Until RQ lists this process as a worker on the kassa queue."""

        def registered() -> bool:
            assert self.sup is not None
            self.sup.check_alive()
            workers = Worker.all(queue=outbox_queue(container.redis))
            return any(w.pid == self.pid for w in workers)

        wait_for(registered, timeout, "the worker to register")

    def kill(self) -> None:
        """SIGKILL to the whole group: no cleanup, no goodbye to Redis or Postgres."""
        if self.sup is not None:
            self.sup.kill(self.name)

    def stop(self) -> int | None:
        return self.sup.stop_process(self.name, timeout=15) if self.sup else None

    def log_tail(self, lines: int = 40) -> str:
        return self.sup.log_tail(self.name, lines) if self.sup else ""


@dataclass
class RelayThread:
    relay: Relay
    stop_event: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    def start(self) -> RelayThread:
        self.thread = threading.Thread(
            target=self.relay.run_forever, args=(self.stop_event,), daemon=True
        )
        self.thread.start()
        return self

    def alive(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def stop(self) -> None:
        self.stop_event.set()
        if self.thread is not None:
            self.thread.join(10)
            assert not self.thread.is_alive(), "the relay did not stop"


class Collect:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.recipients: list[list[str]] = []
        self.refuse: set[str] = set()
        """Recipients whose messages get a temporary failure (451), every time."""
        self.hold_until = 0
        """Hold each message until this many are in flight at once (or ``hold_seconds``)."""
        self.hold_seconds = 0.0
        self.in_flight = 0
        self.max_in_flight = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refuse & set(envelope.rcpt_tos):
            return "451 Mailbox busy, try again later"
        self.in_flight += 1  # one event loop: no lock needed
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        deadline = time.monotonic() + self.hold_seconds
        while self.in_flight < self.hold_until and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        self.in_flight -= 1
        message = message_from_bytes(envelope.original_content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 Message accepted for delivery"


@dataclass
class SmtpSink:
    port: int
    handler: Collect
    controller: Controller

    @property
    def messages(self) -> list[EmailMessage]:
        return self.handler.messages

    def refuse(self, address: str) -> None:
        self.handler.refuse.add(address)

    def hold(self, until: int, seconds: float) -> None:
        """Keep each message waiting until ``until`` are in flight together, at most
        ``seconds``; ``max_in_flight`` then tells how many the sender had going at once."""
        self.handler.hold_until, self.handler.hold_seconds = until, seconds

    @property
    def max_in_flight(self) -> int:
        return self.handler.max_in_flight

    @classmethod
    def start(cls, port: int = 0) -> SmtpSink:
        """A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps every message; ``stop()`` it."""
        handler = Collect()
        controller = Controller(handler, hostname="127.0.0.1", port=port or free_port())
        controller.start()
        return cls(controller.port, handler, controller)

    def stop(self) -> None:
        self.controller.stop()


@dataclass
class Orders:
    """Writes what fulfilment would have written: checkout, order, lines, payment, outbox."""

    container: Container

    def checkout(
        self,
        lines: dict[str, int] | None = None,
        *,
        state: CheckoutState = "open",
        session_id: str | None = None,
        hold_expires_at: datetime | None = None,
        shipping: int = 500,
    ) -> CheckoutRecord:
        lines = lines or {"MUG-WHITE": 2}
        with self.container.uow() as uow:
            prices = {p.sku: p for p, _ in uow.catalog.products_with_availability("demo")}
            priced = [
                PricedLine(
                    sku=sku,
                    name=prices[sku].name,
                    variant="",
                    quantity=qty,
                    unit_amount=prices[sku].unit_amount,
                    line_total=prices[sku].unit_amount * qty,
                )
                for sku, qty in lines.items()
            ]
            subtotal = sum(ln.line_total for ln in priced)
            record = CheckoutRecord(
                id=uuid.uuid4(),
                shop_id="demo",
                idempotency_key=uuid.uuid4().hex,
                cart_hash=uuid.uuid4().hex,
                cart_id=None,
                lines=priced,
                subtotal=subtotal,
                discount=0,
                shipping=shipping,
                total=subtotal + shipping,
                currency="usd",
                shipping_option_id="standard",
                coupon_code=None,
                capture_method="automatic",
                state="pending",
                stripe_session_id=None,
                stripe_session_url=None,
                expires_at=hold_expires_at or datetime.now(UTC) + timedelta(hours=1),
                nonce_hash=uuid.uuid4().hex,
                created_at=datetime.now(UTC),
            )
            checkout, _ = uow.checkouts.create_or_get(record)
            if hold_expires_at is not None:
                levels = {lv.sku: lv.location for lv in uow.inventory.levels("demo")}
                allocation: dict[str, dict[str, int]] = {}
                for sku, qty in lines.items():
                    allocation.setdefault(levels[sku], {})[sku] = qty
                uow.inventory.place_holds("demo", checkout.id, allocation, hold_expires_at)
            if session_id is not None:
                uow.checkouts.attach_session(checkout.id, session_id, None)
            if state != "open" or session_id is None:
                uow.checkouts.set_state(checkout.id, state)
            found = uow.checkouts.get("demo", checkout.id)
        assert found is not None
        return found

    def stripe_session(self, checkout: CheckoutRecord, *, manual_capture: bool = False) -> str:
        """A real session in the Stripe emulator for this checkout, attached to it."""
        with self.container.uow() as uow:
            shop = uow.shops.get("demo")
        assert shop is not None
        config = StripeSessionConfig(
            line_items=[
                StripeLineItem(
                    price_data=StripeLineItemPriceData(
                        currency="usd",
                        unit_amount=ln.unit_amount,
                        product_data={"name": ln.name},
                    ),
                    quantity=ln.quantity,
                )
                for ln in checkout.lines
            ],
            metadata={"shop_id": "demo", "checkout_id": str(checkout.id)},
            client_reference_id=str(checkout.id),
            expires_at=int(time.time()) + 3600,
            success_url="http://127.0.0.1:8000/checkout/success",
            cancel_url="http://127.0.0.1:8000/cart",
            payment_intent_data={"capture_method": "manual"} if manual_capture else {},
        )
        session = self.container.payments.create_session(shop, config, f"test-{checkout.id}")
        with self.container.uow() as uow:
            uow.checkouts.attach_session(checkout.id, session.id, session.url)
        return session.id

    def order(
        self,
        lines: dict[str, int] | None = None,
        *,
        email: str | None = "canary.customer@example.com",
        name: str | None = "Canary Person",
        status: OrderStatus = "paid",
        payment_intent_id: str | None = None,
        shipping: int = 500,
    ) -> OrderRecord:
        checkout = self.checkout(
            lines,
            state="fulfilled",
            session_id=f"cs_test_{uuid.uuid4().hex}",
            shipping=shipping,
        )
        order_id = uuid.uuid4()
        order = OrderRecord(
            id=order_id,
            reference=f"K-{order_id.hex[:8].upper()}",
            shop_id="demo",
            checkout_id=checkout.id,
            stripe_checkout_session_id=checkout.stripe_session_id or "",
            status=status,
            subtotal=checkout.subtotal,
            discount=0,
            shipping=checkout.shipping,
            total=checkout.total,
            currency="usd",
            customer_email=email,
            customer_name=name,
            shipping_address=None,
            token_hash="x" * 64,
            created_at=datetime.now(UTC),
            window_seconds=3600,
        )
        with self.container.uow() as uow:
            uow.orders.add(
                order,
                checkout.lines,
                PaymentRecord(
                    stripe_payment_intent_id=payment_intent_id,
                    amount=order.total,
                    currency="usd",
                    # An order waiting for capture was paid by an authorization.
                    status="requires_capture"
                    if status in ("authorized", "capturing")
                    else "succeeded",
                    refunded_amount=0,
                ),
            )
        return order

    def queue(self, message: Message, dedupe_key: str) -> OutboxRow:
        with self.container.uow() as uow:
            assert uow.outbox.add_message(message, dedupe_key)
            row = next(
                r for r in uow.outbox.for_shop(message.shop_id) if r.dedupe_key == dedupe_key
            )
        return row

    def decrement(self, key: str, sku: str = "MUG-WHITE", qty: int = 1) -> int:
        """A stock-mirror decrement row, as fulfilment queues one; returns its id."""
        message = StockMirrorDecrement(
            shop_id="demo", order_reference=key, lines=[StockLine(sku=sku, quantity=qty)]
        )
        return self.queue(message, key).id

    def row(self, row_id: int) -> OutboxRow:
        with self.container.uow() as uow:
            row = uow.outbox.get(row_id)
        assert row is not None
        return row

    def states(self, ids: list[int]) -> dict[int, str]:
        with self.container.uow() as uow:
            return {i: r.state for i in ids if (r := uow.outbox.get(i)) is not None}


def merchant_event(container: Container, event_id: str) -> MerchantEvent:
    """An ``order.paid`` event in the demo shop's feed, as fulfilment records one."""
    with container.uow() as uow:
        uow.merchant_events.add(event_id, "demo", "order.paid", {"reference": "K-1"})
        event = uow.merchant_events.get(event_id)
    assert event is not None
    return event


def dlq_json(settings: Settings) -> list[dict[str, Any]]:
    result = run_cli(settings, "dlq", "list", "--json")
    assert result.returncode == 0, result.stderr
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    return rows

"""Events out: a paid order reaches the merchant's receiver signed, at least once, through
receiver errors and a SIGKILLed worker; a dead delivery is replayable; a replayed or
tampered delivery is refused by the verification helper."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from integration.workers.outbox_support import RelayThread, WorkerProcess, merchant_event
from support import api_checkout, db, pay

from checkout import outbox_admin
from checkout.merchant_events import new_endpoint_secret
from checkout.webhook_signature import HEADER, SignatureError, verify
from devstack.processes import free_port, wait_for
from kassa.bootstrap import Container
from repos.merchant_events import EndpointRow
from schemas.settings import Settings
from stripe_emulator.server import EmulatorServer
from workers.merchant_webhooks import DeliveryFailed, deliver


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The receivers of these tests listen on 127.0.0.1."""
    return settings.model_copy(update={"webhook_allow_private": True})


@dataclass
class Receiver:
    """A merchant's endpoint: verifies every delivery, keeps what it accepted, and answers
    500 to the first ``failures`` deliveries. With ``gate`` set, the first delivery waits for
    it (the test kills the worker meanwhile) before it answers."""

    secret: str
    failures: int = 0
    arrived: threading.Event = field(default_factory=threading.Event)
    gate: threading.Event | None = None
    accepted: list[dict[str, Any]] = field(default_factory=list)  # as verify() reads them
    raw: list[tuple[bytes, str]] = field(default_factory=list)
    refused: int = 0
    clock_skew: float = 0.0

    def handle(self, body: bytes, header: str | None) -> int:
        try:
            event = verify(body, header, self.secret, now=time.time() + self.clock_skew)
        except SignatureError:
            self.refused += 1
            return 400
        if self.gate is not None and not self.arrived.is_set():
            self.arrived.set()
            self.gate.wait(30)
        if self.failures > 0:
            self.failures -= 1
            return 500
        self.accepted.append(event)
        self.raw.append((body, header or ""))
        return 200


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    rec = Receiver(secret=new_endpoint_secret())

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(rec.handle(body, self.headers.get(HEADER)))
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield rec, f"http://127.0.0.1:{server.server_port}/hooks"
    server.shutdown()
    thread.join(5)


def subscribe(container: Container, url: str, secret: str) -> None:
    with container.uow() as uow:
        uow.merchant_events.add_endpoint(
            EndpointRow(
                id=uuid.uuid4(),
                shop_id="demo",
                url=url,
                secret=secret,
                event_types=["order.paid"],
                active=True,
                created_at=datetime.now(UTC),
            )
        )


def webhook_rows(container: Container, state: str) -> int:
    return int(
        db(
            container,
            "SELECT count(*) FROM outbox WHERE kind = 'merchant.webhook' AND state = %s",
            state,
        )
    )


def test_a_paid_order_reaches_the_receiver_through_errors_and_a_sigkill(
    shop_secret: str,
    live_server: str,
    container: Container,
    emulator: EmulatorServer,
    receiver: tuple[Receiver, str],
    worker_process: Callable[..., WorkerProcess],
    relay_thread: Callable[[Container], RelayThread],
) -> None:
    rec, url = receiver
    rec.failures, rec.gate = 1, threading.Event()
    subscribe(container, url, rec.secret)
    relay_thread(container)
    first = worker_process()
    co = api_checkout(live_server, "MUG-WHITE", 1, key="hooked")
    pay(emulator.url, co["session_id"])
    wait_for(rec.arrived.is_set, what="the first delivery to reach the receiver")
    first.kill()  # in the middle of the delivery: the row is neither done nor failed
    rec.gate.set()
    worker_process()
    wait_for(lambda: rec.accepted, what="a delivery the receiver accepts")
    wait_for(lambda: webhook_rows(container, "done") == 1, what="the delivery row to be done")

    [event] = {str(e["id"]): e for e in rec.accepted}.values()
    assert event["type"] == "order.paid" and event["shop_id"] == "demo"
    order = event["data"]["object"]
    reference = db(container, "SELECT reference FROM orders")
    assert order["reference"] == reference and order["total"] == co["amount_total"]
    assert [ln["name"] for ln in order["lines"]] == [db(container, "SELECT name FROM order_lines")]
    assert "customer_email" not in json.dumps(event) and "Canary" not in json.dumps(event)

    # The same delivery sent again later than the tolerance, or with its body changed: refused.
    body, header = rec.raw[0]
    rec.clock_skew = 301
    assert requests.post(url, data=body, headers={HEADER: header}, timeout=5).status_code == 400
    rec.clock_skew = 0
    tampered = body.replace(b'"order.paid"', b'"order.refunded"')
    assert requests.post(url, data=tampered, headers={HEADER: header}, timeout=5).status_code == 400
    assert rec.refused == 2


def test_a_dead_delivery_is_visible_and_replayable(
    shop_secret: str,
    live_server: str,
    container: Container,
    emulator: EmulatorServer,
    receiver: tuple[Receiver, str],
    worker_process: Callable[..., WorkerProcess],
    relay_thread: Callable[[Container], RelayThread],
) -> None:
    rec, url = receiver
    rec.failures = 1000
    subscribe(container, url, rec.secret)
    relay_thread(container)
    worker_process()
    co = api_checkout(live_server, "MUG-WHITE", 1, key="dead-hook")
    pay(emulator.url, co["session_id"])
    wait_for(lambda: webhook_rows(container, "dead") == 1, what="the delivery to die")
    [dead] = [e for e in outbox_admin.dead_rows(container) if e.kind == "merchant.webhook"]
    assert dead.last_error == "DeliveryFailed"

    rec.failures = 0
    assert outbox_admin.replay(container, [dead.id]) == [dead.id]
    wait_for(lambda: webhook_rows(container, "done") == 1, what="the replayed delivery")
    assert [e["type"] for e in rec.accepted] == ["order.paid"]


@contextmanager
def http_server(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)


def test_a_redirect_fails_the_delivery_and_its_target_receives_nothing(
    container: Container, receiver: tuple[Receiver, str]
) -> None:
    """Only the URL the merchant registered gets the event, even if it points elsewhere."""
    rec, target = receiver

    class Moved(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.send_response(307)  # 307 keeps the method and body: the riskiest redirect
            self.send_header("Location", target)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    event = merchant_event(container, "evt_moved")
    with http_server(Moved) as moved, pytest.raises(DeliveryFailed, match=r"^http_307$"):
        deliver(f"{moved}/hooks", rec.secret, event, timeout=5, allow_private=True)
    assert (rec.accepted, rec.refused) == ([], 0)
    assert deliver(target, rec.secret, event, timeout=5, allow_private=True) == 200
    assert [e["id"] for e in rec.accepted] == ["evt_moved"]


def test_an_endpoint_that_refuses_or_never_answers_fails_the_delivery(
    container: Container,
) -> None:
    answered = threading.Event()

    class Silent(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            answered.wait(10)  # longer than the delivery's timeout

        def log_message(self, *args: object) -> None:
            pass

    event = merchant_event(container, "evt_silent")
    with pytest.raises(DeliveryFailed, match=r"^unreachable_URLError$"):
        deliver(
            f"http://127.0.0.1:{free_port()}/hooks",
            "whsec_test",
            event,
            timeout=5,
            allow_private=True,
        )
    with http_server(Silent) as silent:
        try:
            with pytest.raises(DeliveryFailed, match=r"^unreachable_TimeoutError$"):
                deliver(f"{silent}/hooks", "whsec_test", event, timeout=0.5, allow_private=True)
        finally:
            answered.set()


def test_a_private_address_is_never_delivered_to_unless_allowed(
    container: Container, receiver: tuple[Receiver, str]
) -> None:
    """A merchant's key must not make the workers POST into the network they run in."""
    rec, url = receiver
    event = merchant_event(container, "evt_inside")
    with pytest.raises(DeliveryFailed, match=r"^private_address$"):
        deliver(url, rec.secret, event, timeout=5)
    assert (rec.accepted, rec.refused) == ([], 0)
    assert deliver(url, rec.secret, event, timeout=5, allow_private=True) == 200

"""One purchase through every moving part (web, Stripe emulator webhooks, relay, an RQ worker
process, SMTP) with hostile delivery: every effect happens once, and no customer detail
reaches any log line."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import stripe
from integration.workers.outbox_support import RelayThread, SmtpSink, WorkerProcess
from support import CANARY_CUSTOMER, db, pay, webhook_mode
from werkzeug.serving import make_server

from devstack.processes import wait_for
from devstack.services import EmbeddedRedis
from kassa.bootstrap import Container, bootstrap
from kassa.logs import configure_logging
from ops.seed import seed_shop_in
from outbox.relay import Relay
from schemas.settings import Settings
from stripe_emulator.server import EmulatorServer
from web.app import create_app

DEMO_KEY = "sk_test_kassa_demo"
CANARIES = [
    CANARY_CUSTOMER["email"],
    CANARY_CUSTOMER["name"],
    CANARY_CUSTOMER["address"]["line1"],
    CANARY_CUSTOMER["address"]["postal_code"],
    "Canaryville",
]


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    sink = SmtpSink.start()
    yield sink
    sink.stop()


@pytest.fixture
def settings(base_settings: Settings, smtp: SmtpSink) -> Settings:
    return base_settings.model_copy(
        update={
            "smtp_port": smtp.port,
            "relay_poll_seconds": 0.2,
            "job_retry_base_seconds": 0.2,
            "log_level": "INFO",
        }
    )


@pytest.fixture
def captured_logs() -> Iterator[io.StringIO]:
    """Kassa's own JSON logging (with its redaction filter) for this process, as in production."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    stream = io.StringIO()
    configure_logging("DEBUG", stream=stream)
    try:
        yield stream
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])


def test_one_purchase_every_effect_once_and_no_pii_in_logs(
    live_server: str,
    container: Container,
    emulator: EmulatorServer,
    smtp: SmtpSink,
    captured_logs: io.StringIO,
    tmp_path: Path,
) -> None:
    with container.uow() as uow:
        seed_shop_in(uow, "demo", container.settings, stripe_api_key=DEMO_KEY)
        container.mirror.replace("demo", uow.inventory.on_hand_by_sku("demo"))
    secret = container.payments.register_webhook(DEMO_KEY, f"{live_server}/webhooks/stripe/demo")
    with container.uow() as uow:
        uow.shops.set_webhook_secret("demo", secret)
    worker = WorkerProcess(container.settings, tmp_path / "worker.log").start()
    worker.wait_ready(container)
    relay = RelayThread(Relay(container)).start()
    try:
        browser = requests.Session()
        browser.headers["X-Shop-Id"] = "demo"
        browser.post(
            f"{live_server}/api/cart/items", json={"sku": "MUG-WHITE", "quantity": 2}
        ).raise_for_status()
        co = browser.post(f"{live_server}/api/checkout", json={}).json()
        webhook_mode(emulator.url, duplicate=5, shuffle=True)  # every event five times, any order
        pay(emulator.url, co["session_id"], customer=CANARY_CUSTOMER)
        wait_for(
            lambda: db(container, "SELECT count(*) FROM outbox WHERE state = 'done'") == 5,
            timeout=40,
        )
        # ... and the same completed event again "an hour later", by hand, signed like Stripe:
        session = stripe.StripeClient(
            DEMO_KEY, base_addresses={"api": emulator.url}
        ).v1.checkout.sessions.retrieve(co["session_id"])
        event = {
            "id": "evt_an_hour_later",
            "object": "event",
            "type": "checkout.session.completed",
            "created": 0,
            "data": {"object": session.to_dict()},
        }
        payload = json.dumps(event)
        late = requests.post(
            f"{live_server}/webhooks/stripe/demo",
            data=payload,
            timeout=10,
            headers={
                "Stripe-Signature": stripe.WebhookSignature.generate_signature_header(
                    payload, secret
                )
            },
        )
        assert late.json()["result"] == "existing"
        status = browser.get(f"{live_server}/api/checkout/{co['checkout_id']}/status").json()
        assert status["state"] == "fulfilled"
    finally:
        relay.stop()
        worker.stop()

    assert db(container, "SELECT count(*) FROM orders") == 1
    assert db(container, "SELECT count(*) FROM inventory_holds WHERE state = 'committed'") == 1
    assert db(container, "SELECT on_hand FROM inventory_levels WHERE sku = 'MUG-WHITE'") == 48
    assert container.mirror.levels("demo")["MUG-WHITE"] == 48  # one Redis decrement
    assert db(container, "SELECT count(*) FROM outbox") == 5
    assert db(container, "SELECT max(attempts) FROM outbox") == 1
    reference = db(container, "SELECT reference FROM orders")
    pi = stripe.StripeClient(
        DEMO_KEY, base_addresses={"api": emulator.url}
    ).v1.payment_intents.retrieve(session.payment_intent)
    assert pi.metadata.to_dict() == {
        "shop_id": "demo",
        "checkout_id": co["checkout_id"],
        "order_reference": reference,
    }
    assert len(smtp.messages) == 1 and reference in str(smtp.messages[0]["Subject"])
    assert container.carts.lines("demo", db(container, "SELECT cart_id FROM checkouts")) == []

    logs = captured_logs.getvalue() + (tmp_path / "worker.log").read_text()
    assert "order created" in logs and "webhook handled" in logs and "Job OK" in logs
    for canary in CANARIES:
        assert canary not in logs, f"{canary!r} leaked into a log line"


def test_webhook_while_redis_is_down_then_every_effect_once(
    container: Container, emulator: EmulatorServer, smtp: SmtpSink, tmp_path: Path
) -> None:
    """Redis is down when Stripe's webhook arrives: the order is still made (Postgres only),
    and once Redis is back the relay and a worker complete each side effect once."""
    redis_server = EmbeddedRedis(tmp_path / "redis")
    redis_server.start()
    local = bootstrap(container.settings.model_copy(update={"redis_url": redis_server.url}))
    server = make_server("127.0.0.1", 0, create_app(local), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}"
    relay = worker = None
    try:
        with local.uow() as uow:
            seed_shop_in(uow, "demo", local.settings, stripe_api_key=DEMO_KEY)
            local.mirror.replace("demo", uow.inventory.on_hand_by_sku("demo"))
        secret = local.payments.register_webhook(DEMO_KEY, f"{url}/webhooks/stripe/demo")
        with local.uow() as uow:
            uow.shops.set_webhook_secret("demo", secret)
        co = requests.post(
            f"{url}/api/checkout",
            json={"lines": [{"sku": "MUG-WHITE", "quantity": 2}]},
            headers={"X-Shop-Id": "demo", "Idempotency-Key": "redis-down"},
            timeout=30,
        ).json()
        redis_server.stop()
        pay(emulator.url, co["session_id"])
        wait_for(lambda: db(container, "SELECT count(*) FROM orders") == 1, timeout=30)
        completed = [
            d
            for d in requests.get(f"{emulator.url}/_emulator/webhooks/deliveries", timeout=5).json()
            if d["type"] == "checkout.session.completed"
        ]
        assert [d["status"] for d in completed] == [200]  # answered 200 on the first delivery
        assert db(container, "SELECT count(*) FROM outbox WHERE state = 'pending'") == 4

        redis_server.start()  # back on the same port, empty
        local.mirror.replace(
            "demo", {"MUG-WHITE": 50}
        )  # what reconcile would rebuild before the sale
        worker = WorkerProcess(local.settings, tmp_path / "worker.log").start()
        worker.wait_ready(local)
        relay = RelayThread(Relay(local)).start()
        wait_for(
            lambda: db(container, "SELECT count(*) FROM outbox WHERE state = 'done'") == 4,
            timeout=40,
        )
        assert local.mirror.levels("demo")["MUG-WHITE"] == 48  # decremented once
    finally:
        if relay is not None:
            relay.stop()
        if worker is not None:
            worker.stop()
        server.shutdown()
        thread.join(5)
        local.close()
        redis_server.stop()
    assert db(container, "SELECT max(attempts) FROM outbox") == 1
    assert len(smtp.messages) == 1

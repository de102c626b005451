"""A shopper buys in Chromium; the merchant signs in to the console with an API key, finds
the order, refunds one line, marks it shipped, and replays a webhook delivery that died
while the merchant's endpoint answered 500. Then Stripe (the emulator), the database, the
mailbox and the merchant's receiver must tell the same story."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import stripe
from support import db

from checkout.webhook_signature import HEADER, SignatureError, verify
from devstack.processes import wait_for
from kassa.bootstrap import Container
from merchant.api_keys import create_api_key
from merchant.events import create_endpoint
from merchant.writes import Actor
from schemas.merchant import ApiKeyCreate
from schemas.merchant_events import EndpointCreate
from schemas.settings import Settings
from stripe_emulator.server import EmulatorServer

pytestmark = pytest.mark.e2e

DEMO_KEY = "sk_test_kassa_demo"


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    """Two attempts per delivery, so the failing endpoint's event dies within seconds; mail
    to files in a mailbox directory."""
    return settings.model_copy(
        update={
            "job_max_attempts": 2,
            "smtp_port": 0,
            "mailbox_dir": str(tmp_path / "mailbox"),
            "webhook_allow_private": True,  # the receiver listens on 127.0.0.1
        }
    )


class Receiver:
    """The merchant's endpoint: answers 500 while ``failing``, then verifies and keeps."""

    def __init__(self) -> None:
        self.secret = ""
        self.failing = True
        self.refused = 0
        self.accepted: list[dict[str, Any]] = []

    def handle(self, body: bytes, header: str | None) -> int:
        if self.failing:
            return 500
        try:
            self.accepted.append(verify(body, header, self.secret))
        except SignatureError:
            self.refused += 1
            return 400
        return 200


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    rec = Receiver()

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
    yield rec, f"http://127.0.0.1:{server.server_port}/kassa-events"
    server.shutdown()
    thread.join(5)


def buy(pg: Any, url: str, skus: dict[str, int]) -> None:
    for sku, quantity in skus.items():
        pg.goto(f"{url}/")
        pg.locator(f'li[data-sku="{sku}"] input[type=number]').fill(str(quantity))
        pg.locator(f'li[data-sku="{sku}"] button').click()
        pg.get_by_test_id("notice").wait_for()
    pg.goto(f"{url}/cart")
    pg.get_by_role("button", name="Checkout").click()
    pg.get_by_role("button", name="Pay", exact=True).wait_for()
    pg.fill("#email", "e2e.console@example.test")
    pg.get_by_role("button", name="Pay", exact=True).click()
    pg.locator('[data-state="fulfilled"]').wait_for()


def webhook_state(container: Container) -> str | None:
    state: str | None = db(container, "SELECT state FROM outbox WHERE kind = 'merchant.webhook'")
    return state


UNLABELLED = """[...document.querySelectorAll('input:not([type=hidden]), select, button')]
    .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                  && !el.textContent.trim()).length"""


def accessible(pg: Any) -> bool:
    """Every control has a name, and there is one top-level heading."""
    return pg.evaluate(UNLABELLED) == 0 and pg.locator("h1").count() == 1


def mailbox(settings: Settings, subject: str) -> list[Any]:
    found = []
    for path in Path(settings.mailbox_dir).glob("*.eml"):
        msg = message_from_bytes(path.read_bytes(), policy=policy.default)
        if msg["Subject"] == subject:
            found.append(msg)
    return found


def test_merchant_refunds_a_line_ships_and_replays_a_dead_event(
    stack: str,
    browser: Any,
    page: tuple[Any, Any],
    container: Container,
    settings: Settings,
    emulator: EmulatorServer,
    receiver: tuple[Receiver, str],
) -> None:
    rec, hook_url = receiver
    endpoint = create_endpoint(
        container,
        Actor(shop_id="demo", label="operator"),
        EndpointCreate.model_validate({"url": hook_url, "event_types": ["order.paid"]}),
    )
    rec.secret = endpoint.secret

    shopper, shot = page
    buy(shopper, stack, {"MUG-WHITE": 2, "TSHIRT-BLUE-M": 1})
    shot("shopper-paid")
    reference = db(container, "SELECT reference FROM orders")
    mug_total = db(container, "SELECT line_total FROM order_lines WHERE sku = 'MUG-WHITE'")
    wait_for(lambda: webhook_state(container) == "dead", timeout=60)

    key = create_api_key(container, ApiKeyCreate(shop_id="demo", name="e2e console")).key
    merchant_context = browser.new_context()
    pg = merchant_context.new_page()
    pg.set_default_timeout(20_000)
    shot.page = pg
    try:
        pg.goto(f"{stack}/console/orders")
        pg.wait_for_url("**/console/login")
        pg.get_by_label("API key or operator token").fill(key)
        assert accessible(pg)
        shot("console-login")
        pg.get_by_role("button", name="Sign in").click()
        pg.get_by_role("heading", name="Orders").wait_for()
        assert key not in pg.url and pg.evaluate("Object.keys(window.localStorage).length") == 0
        assert pg.evaluate("document.cookie") == ""  # HttpOnly: no script can read the session
        assert accessible(pg)
        shot("orders")

        pg.get_by_label("Reference").fill(reference)
        pg.get_by_role("button", name="Show").click()
        pg.get_by_role("link", name=reference).click()
        assert pg.get_by_test_id("order-reference").inner_text() == reference
        assert pg.get_by_test_id("order-status").inner_text() == "paid"
        assert accessible(pg)
        shot("order")

        pg.locator('tr[data-sku="MUG-WHITE"]').get_by_role("button", name="Refund").click()
        pg.get_by_test_id("notice").wait_for()
        wait_for(lambda: db(container, "SELECT refunded_amount FROM payments") == mug_total)
        pg.reload()
        assert (
            pg.get_by_test_id("refunded").inner_text()
            == f"${mug_total // 100}.{mug_total % 100:02d}"
        )
        shot("line-refunded")

        pg.get_by_label("Tracking reference").fill("TRK-E2E-42")
        pg.get_by_role("button", name="Mark shipped").click()
        pg.get_by_test_id("notice").wait_for()
        assert pg.get_by_test_id("order-status").inner_text() == "fulfilled"
        assert pg.get_by_test_id("tracking").inner_text() == "TRK-E2E-42"
        assert pg.locator('[data-what="fulfilled"]').count() == 1
        shot("shipped")

        pg.get_by_role("link", name="Outbox").click()
        dead = pg.locator('tr[data-kind="merchant.webhook"]')
        assert dead.count() == 1 and pg.get_by_test_id("depth-dead").inner_text() == "1"
        assert accessible(pg)
        shot("outbox-dead")
        rec.failing = False  # the merchant fixed the endpoint
        dead.get_by_role("button", name="Replay").click()
        pg.get_by_test_id("notice").wait_for()
        wait_for(lambda: webhook_state(container) == "done", timeout=60)
        pg.reload()
        pg.get_by_test_id("no-dead").wait_for()
        shot("outbox-replayed")
    finally:
        merchant_context.close()

    # Stripe: one refund, of the mug line.
    api = stripe.StripeClient(DEMO_KEY, base_addresses={"api": emulator.url})
    intent = db(container, "SELECT stripe_payment_intent_id FROM payments")
    refunds = api.v1.refunds.list(params={"payment_intent": intent}).data
    assert [r.amount for r in refunds] == [mug_total]
    # The database: shipped with its tracking, the refund recorded, every effect done.
    assert db(container, "SELECT status FROM orders") == "fulfilled"
    assert db(container, "SELECT tracking_reference FROM orders") == "TRK-E2E-42"
    wait_for(lambda: db(container, "SELECT count(*) FROM outbox WHERE state <> 'done'") == 0)
    # The mailbox: the shipping email carries the tracking reference.
    [shipped] = wait_for(lambda: mailbox(settings, f"Your order {reference} is on its way"))
    assert shipped["To"] == "e2e.console@example.test"
    assert "TRK-E2E-42" in shipped.get_body(("plain",)).get_content()
    # The merchant's receiver: the replayed order.paid, signed, of this order.
    assert [e["type"] for e in rec.accepted] == ["order.paid"] and rec.refused == 0
    assert rec.accepted[0]["data"]["object"]["reference"] == reference

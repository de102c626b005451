"""The whole stack for browser tests: embedded Postgres and Redis, the Stripe emulator, the
web app on a real port, the outbox relay, a ``kassa worker`` process, an SMTP sink, and
Debian's Chromium driven by Playwright. Screenshots of every step go to artifacts/e2e/, and
every storefront page is checked with axe-core (bundled by axe-playwright-python): no serious
or critical accessibility violation may appear."""

from __future__ import annotations

import json
import re
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from integration.workers.outbox_support import RelayThread, SmtpSink, WorkerProcess

from devstack.services import free_port
from kassa.bootstrap import Container
from ops.seed import seed_shop_in
from outbox.relay import Relay
from schemas.settings import Settings

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "e2e"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DEMO_KEY = "sk_test_kassa_demo"
BLOCKING_IMPACTS = ("serious", "critical")
AXE = Axe()


def chromium_path() -> str:
    for candidate in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(candidate)
        if found:
            return found
    pytest.fail(
        "Chromium is not installed. Install it with `apt-get install chromium` "
        "(scripts/test does this itself when it runs as root)."
    )


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="session")
def smtp() -> Iterator[SmtpSink]:
    sink = SmtpSink.start()
    yield sink
    sink.stop()


@pytest.fixture
def web_port() -> int:
    return free_port()


@pytest.fixture
def storefront_shop() -> str:
    """The shop the storefront sells from (KASSA_STOREFRONT_SHOP); ``tokyo`` sells in yen.
    Override with ``@pytest.mark.parametrize("storefront_shop", ["tokyo"])``."""
    return "demo"


@pytest.fixture
def settings(
    base_settings: Settings, web_port: int, smtp: SmtpSink, storefront_shop: str
) -> Settings:
    return base_settings.model_copy(
        update={
            "storefront_shop": storefront_shop,
            "public_url": f"http://127.0.0.1:{web_port}",
            "smtp_port": smtp.port,
            "relay_poll_seconds": 0.2,
            "job_retry_base_seconds": 0.2,
            "checkout_rate_limit": "1000/minute",
        }
    )


@pytest.fixture
def stack(
    container: Container,
    app: Any,
    web_port: int,
    settings: Settings,
    tmp_path: Path,
    storefront_shop: str,
) -> Iterator[str]:
    """Seeded shop, webhook endpoint, stock mirror, web server, relay and worker; yields the URL."""
    from werkzeug.serving import make_server

    shop = storefront_shop
    currency = "jpy" if shop == "tokyo" else "usd"
    with container.uow() as uow:
        seed_shop_in(uow, shop, settings, currency=currency, stripe_api_key=DEMO_KEY)
    url = f"http://127.0.0.1:{web_port}"
    secret = container.payments.register_webhook(DEMO_KEY, f"{url}/webhooks/stripe/{shop}")
    with container.uow() as uow:
        uow.shops.set_webhook_secret(shop, secret)
        container.mirror.replace(shop, uow.inventory.on_hand_by_sku(shop))
    server = make_server("127.0.0.1", web_port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    worker = WorkerProcess(settings, tmp_path / "worker.log").start()
    worker.wait_ready(container)
    relay = RelayThread(Relay(container)).start()
    try:
        yield url
    finally:
        relay.stop()
        worker.stop()
        server.shutdown()
        thread.join(5)


class Shots:
    """Numbered screenshots of one test's steps."""

    def __init__(self, page: Any, name: str) -> None:
        self.page = page
        self.dir = ARTIFACTS / name
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True)
        self.n = 0

    def __call__(self, step: str) -> None:
        self.n += 1
        self.page.screenshot(path=str(self.dir / f"{self.n:02d}-{step}.png"), full_page=True)

    def checked(self, step: str) -> None:
        """A storefront page: screenshot it and fail on any serious or critical axe-core
        violation (the full findings go next to the screenshot when there are any)."""
        self(step)
        violations = AXE.run(self.page).response["violations"]
        blocking = [v for v in violations if v.get("impact") in BLOCKING_IMPACTS]
        if violations:
            report = self.dir / f"{self.n:02d}-{step}.axe.json"
            report.write_text(json.dumps(violations, indent=2))
        assert not blocking, f"{step}: " + "; ".join(
            f"{v['id']} ({v['impact']}) at {[n['target'] for n in v['nodes']]}" for v in blocking
        )


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[tuple[Any, Shots]]:
    context = browser.new_context()
    pg = context.new_page()
    pg.set_default_timeout(20_000)
    yield pg, Shots(pg, re.sub(r"[^a-z0-9_]+", "_", request.node.name.lower()))
    context.close()

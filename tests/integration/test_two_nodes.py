"""Two complete Kassa "nodes" (each its own process group: web, relay, worker) share one
Postgres and one Redis. Purchases go to both; one node is SIGKILLed mid-traffic. The other
carries on, and nothing is lost: every paid session has exactly one order, every side effect
of every order is done (one confirmation email each, the stock mirror in step), no row dies.
"""

from __future__ import annotations

import signal
from pathlib import Path

import psycopg
import requests
from integration.workers.outbox_support import ROOT, env_for
from support import db, pay

from devstack.processes import Supervisor, free_port, wait_for, wait_http
from kassa.bootstrap import Container
from ops.seed import seed_and_mirror
from schemas.settings import Settings
from stripe_emulator.server import EmulatorServer

DEMO_KEY = "sk_test_kassa_demo"
PURCHASES = 12
KILL_AFTER = 5


def start_node(name: str, settings: Settings, tmp_path: Path) -> tuple[Supervisor, str]:
    port = free_port()
    sup = Supervisor(tmp_path / name, env_for(settings), cwd=ROOT, death_signal=signal.SIGKILL)
    sup.spawn("web", "ops.cli", "web", "--port", str(port), "--workers", "1")
    sup.spawn("relay", "ops.cli", "relay")
    sup.spawn("worker", "ops.cli", "worker")
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/readyz", timeout=60, alive=sup.check_alive)
    return sup, url


def buy(web: str) -> str:
    """A shopper's cart and checkout on one node; returns the Stripe session id."""
    browser = requests.Session()
    browser.trust_env = False
    browser.headers["X-Shop-Id"] = "demo"
    browser.post(
        f"{web}/api/cart/items", json={"sku": "MUG-WHITE", "quantity": 1}, timeout=30
    ).raise_for_status()
    resp = browser.post(f"{web}/api/checkout", json={}, timeout=30)
    resp.raise_for_status()
    return str(resp.json()["session_id"])


def test_killing_one_of_two_nodes_loses_nothing(
    base_settings: Settings, container: Container, emulator: EmulatorServer, tmp_path: Path
) -> None:
    mailbox = tmp_path / "mailbox"
    settings = base_settings.model_copy(
        update={
            "mailbox_dir": str(mailbox),
            "smtp_port": 0,
            "relay_poll_seconds": 0.2,
            "relay_requeue_after_seconds": 2,
            "job_retry_base_seconds": 0.2,
            "checkout_rate_limit": "1000/minute",  # every shopper comes from 127.0.0.1
        }
    )
    seed_and_mirror(container, "demo", stripe_api_key=DEMO_KEY)
    with container.uow() as uow:
        stock_before = uow.inventory.on_hand_by_sku("demo")["MUG-WHITE"]
    node_a, url_a = start_node("a", settings, tmp_path)
    node_b, url_b = start_node("b", settings, tmp_path)
    # Stripe's webhooks reach whichever node the load balancer picks; here, the survivor.
    secret = container.payments.register_webhook(DEMO_KEY, f"{url_b}/webhooks/stripe/demo")
    with container.uow() as uow:
        uow.shops.set_webhook_secret("demo", secret)
    try:
        sessions = []
        for i in range(PURCHASES):
            alive_a = i < KILL_AFTER
            sessions.append(buy(url_a if alive_a and i % 2 == 0 else url_b))
            pay(emulator.url, sessions[-1])
            if i == KILL_AFTER - 1:
                for child in list(node_a.children):
                    node_a.kill(child)  # SIGKILL to web, relay and worker of node A at once

        def settled() -> bool:
            node_b.check_alive()
            orders = db(container, "SELECT count(*) FROM orders")
            open_rows = db(container, "SELECT count(*) FROM outbox WHERE state <> 'done'")
            return (
                orders == PURCHASES
                and open_rows == 0
                and db(container, "SELECT count(*) FROM outbox") > 0
            )

        wait_for(
            settled,
            timeout=120,
            what="every order made and every side effect done on the surviving node",
            context=lambda: node_b.log_tail("worker") + "\n" + node_b.log_tail("relay"),
        )
    finally:
        node_a.stop()
        node_b.stop()

    with psycopg.connect(container.settings.database_url) as conn:
        paid = {r[0] for r in conn.execute("SELECT stripe_checkout_session_id FROM orders")}
    assert paid == set(sessions)
    assert db(container, "SELECT count(*) FROM outbox WHERE state = 'dead'") == 0
    emails = list(mailbox.glob("*.eml"))
    assert len(emails) == PURCHASES, sorted(p.name for p in emails)
    with container.uow() as uow:
        on_hand = uow.inventory.on_hand_by_sku("demo")
    assert on_hand["MUG-WHITE"] == stock_before - PURCHASES
    assert container.mirror.levels("demo")["MUG-WHITE"] == on_hand["MUG-WHITE"]
    assert db(container, "SELECT coalesce(sum(reserved), 0) FROM inventory_levels") == 0

"""Two complete Kassa "nodes" (each its own process groups of web, relay and worker) share
one Postgres and one Redis. Purchases go to both webs and Stripe's webhooks to node A, until
node A is SIGKILLed while its worker is in the middle of a job: held in a Stripe call that
the emulator keeps hanging. The load balancer then sends the webhooks to node B, which
carries on, and nothing is lost: every paid session has exactly one order, every side effect
of every order is done once (the dead worker's job included), no row dies.

Which worker gets a job is RQ's choice, so node B's worker joins only once node A's holds the
hanging one: that makes the job in flight at the kill node A's in every run, not by chance.
The test has an emulator of its own, whose stop wakes the request it kept hanging.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import requests
import stripe
from integration.workers.outbox_support import ROOT, env_for
from rq import Worker
from rq.job import Job
from support import db, pay

from devstack.processes import Supervisor, free_port, wait_for, wait_http
from kassa.bootstrap import Container, bootstrap
from ops.seed import register_webhook_endpoint, seed_and_mirror
from schemas.settings import Settings
from stripe_emulator.server import EmulatorServer

DEMO_KEY = "sk_test_kassa_demo"
BEFORE = 4
"""Purchases while only node A's worker runs, webhooks to node A."""
ALONGSIDE = 2
"""Purchases once both workers run, webhooks still to node A, right before the kill."""
AFTER = 4
"""Purchases after the kill, on node B."""
PURCHASES = BEFORE + ALONGSIDE + AFTER


@pytest.fixture
def stripe_emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(webhook_retry_delays=[0.2, 0.5, 1.0, 2.0, 4.0]) as server:
        yield server


def start(sup: Supervisor, *names: str) -> str | None:
    """Spawn the node's processes; returns the web's URL once it answers, if one was asked."""
    url = None
    for name in names:
        if name == "web":
            port = free_port()
            sup.spawn("web", "ops.cli", "web", "--port", str(port), "--workers", "1")
            url = f"http://127.0.0.1:{port}"
        else:
            sup.spawn(name, "ops.cli", name)
    if url is not None:
        wait_http(f"{url}/readyz", timeout=60, alive=sup.check_alive)
    return url


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


def held_rows(container: Container, worker_pid: int) -> set[int]:
    """Outbox rows of the jobs that the worker threads of process ``worker_pid`` hold now."""
    rows: set[int] = set()
    for worker in Worker.all(connection=container.redis):
        job_id = worker.get_current_job_id()
        if worker.pid == worker_pid and job_id:
            rows.update(Job.fetch(job_id, connection=container.redis).args[0])
    return rows


def claimed_syncs(container: Container, row_ids: set[int]) -> set[int]:
    """Those of the rows that are metadata syncs claimed by a relay and not done yet."""
    with psycopg.connect(container.settings.database_url) as conn:
        found = conn.execute(
            "SELECT id FROM outbox WHERE id = ANY(%s)"
            " AND kind = 'stripe.metadata_sync' AND state = 'enqueued'",
            (sorted(row_ids),),
        )
        return {row[0] for row in found}


def test_killing_a_node_in_the_middle_of_a_job_loses_nothing(
    base_settings: Settings,
    container: Container,
    stripe_emulator: EmulatorServer,
    tmp_path: Path,
) -> None:
    mailbox = tmp_path / "mailbox"
    settings = base_settings.model_copy(
        update={
            "stripe_api_base": stripe_emulator.url,
            # Node A's hanging call must outlast the wait for the kill, however slow the machine.
            "stripe_timeout_seconds": 120.0,
            "mailbox_dir": str(mailbox),
            "smtp_port": 0,
            "relay_poll_seconds": 0.2,
            "relay_requeue_after_seconds": 2,
            "job_retry_base_seconds": 0.2,
            "checkout_rate_limit": "1000/minute",  # every shopper comes from 127.0.0.1
        }
    )
    emulator = stripe_emulator.url
    stripe_api = stripe.StripeClient(DEMO_KEY, base_addresses={"api": emulator})
    seed_and_mirror(container, "demo", stripe_api_key=DEMO_KEY)
    with container.uow() as uow:
        stock_before = uow.inventory.on_hand_by_sku("demo")["MUG-WHITE"]
    env = env_for(settings)
    node_a = Supervisor(tmp_path / "a", env, cwd=ROOT, death_signal=signal.SIGKILL)
    node_b = Supervisor(tmp_path / "b", env, cwd=ROOT, death_signal=signal.SIGKILL)
    try:
        url_a = str(start(node_a, "web", "relay", "worker"))
        url_b = str(start(node_b, "web", "relay"))
        c = bootstrap(settings)
        try:
            register_webhook_endpoint(c, "demo", url_a)
        finally:
            c.close()
        # The first PaymentIntent update (an order's metadata sync, a worker's job) hangs.
        requests.post(
            f"{emulator}/_emulator/faults",
            json={"method": "POST", "path_prefix": "/v1/payment_intents/", "hang_seconds": 600},
            timeout=5,
        ).raise_for_status()

        sessions = []

        def purchase(web: str) -> None:
            sessions.append(buy(web))
            pay(emulator, sessions[-1])

        for i in range(BEFORE):
            purchase(url_a if i % 2 == 0 else url_b)
        worker_a = node_a.children["worker"].pid

        def hanging_job_of_node_a() -> set[int]:
            node_a.check_alive()
            if requests.get(f"{emulator}/_emulator/faults", timeout=5).json()["faults"]:
                return set()  # no call has hit the fault yet
            return claimed_syncs(container, held_rows(container, worker_a))

        in_flight = wait_for(
            hanging_job_of_node_a,
            timeout=60,
            what="node A's worker to hold a metadata sync hanging in a Stripe call",
            context=lambda: node_a.log_tail("worker"),
        )
        start(node_b, "worker")
        wait_for(
            lambda: (
                node_b.check_alive()
                or any(w.pid == node_b.children["worker"].pid for w in Worker.all(container.redis))
            ),
            timeout=60,
            what="node B's worker to register",
            context=lambda: node_b.log_tail("worker"),
        )
        for i in range(ALONGSIDE):
            purchase(url_a if i % 2 == 0 else url_b)
        unfinished = claimed_syncs(container, in_flight)
        assert unfinished, "node A's hanging job finished before the kill"
        assert held_rows(container, worker_a) >= unfinished

        node_a.kill_all()  # web, relay and worker of node A (gunicorn's worker too) at once
        (hook,) = stripe_api.v1.webhook_endpoints.list().data
        stripe_api.v1.webhook_endpoints.update(
            hook.id, params={"url": f"{url_b}/webhooks/stripe/demo"}
        )  # the load balancer stops sending to the dead node
        for _ in range(AFTER):
            purchase(url_b)

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
    # Both nodes took Stripe's webhooks: node A until it died, node B after.
    deliveries = requests.get(f"{emulator}/_emulator/webhooks/deliveries", timeout=5).json()
    took = {d["url"].split("/webhooks/")[0] for d in deliveries if d["status"] == 200}
    assert took == {url_a, url_b}
    assert db(container, "SELECT count(*) FROM outbox WHERE state = 'dead'") == 0
    # The dead worker's job was done by the survivor: the PaymentIntents carry their orders.
    for row_id in unfinished:
        payload = db(container, "SELECT payload FROM outbox WHERE id = %s", row_id)
        intent = stripe_api.v1.payment_intents.retrieve(payload["payment_intent_id"])
        assert intent.metadata["order_reference"] == payload["order_reference"]
    emails = list(mailbox.glob("*.eml"))
    assert len(emails) == PURCHASES, sorted(p.name for p in emails)
    with container.uow() as uow:
        on_hand = uow.inventory.on_hand_by_sku("demo")
    assert on_hand["MUG-WHITE"] == stock_before - PURCHASES
    assert container.mirror.levels("demo")["MUG-WHITE"] == on_hand["MUG-WHITE"]
    assert db(container, "SELECT coalesce(sum(reserved), 0) FROM inventory_levels") == 0

"""The chaos harness (issue 9): many customers, random outcomes and random faults against a
real Kassa stack, then a settle period and a check of the invariants that money
correctness rests on. Shared by ``tests/chaos/`` (small runs in the suite) and
``bench/chaos.py`` (large runs).

A run is planned up front from ``random.Random(seed)``: who buys what in which shop, how
each customer's payment ends, which faults are injected and after which customer. The
same seed gives the same plan; thread interleaving still differs between runs, which is
the point of running many seeds.

The stack is real: embedded Postgres and Redis (``devstack.services``), the Stripe emulator
(in this process, with a webhook endpoint per shop as ``kassa dev`` registers them),
``kassa web`` (gunicorn), ``kassa relay`` and ``kassa worker`` as child processes
supervised by ``bench/stack.py``'s ``Stack``. Faults are what production sees: webhooks
duplicated, shuffled and delayed; Stripe answering 5xx/429 or slowly; worker and relay
SIGKILLed (and started again); Redis restarted empty; Postgres restarted.

The harness never repairs anything (no ``kassa reconcile``, no ``kassa reap``): after
the load it stops injecting faults and waits for the system to heal by itself, then
checks, against Postgres, Redis, the emulator (through the Stripe SDK) and every log
file, that:

- no checkout or session has two orders;
- no unit is oversold: on_hand >= 0, 0 <= reserved <= on_hand, and the units sold
  (lines of kept orders) equal the initial stock minus on_hand;
- every paid (or authorized) session has exactly one kept order or exactly one full
  refund, and no order exists without a paid session;
- captured minus refunded money equals the totals of the kept orders, to the minor unit;
- no hold is active past its expiry;
- the outbox is fully done (nothing pending, enqueued or dead);
- the Redis stock mirror equals Postgres' on_hand;
- no customer detail (every one carries the canary ``zqcanary``) is in any log line.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import random
import shutil
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import psycopg
import requests
import stripe
from psycopg.rows import dict_row
from rq import Worker
from stack import Stack, StackError

from devstack.processes import free_port, wait_http
from devstack.services import EmbeddedRedis, start_services
from ops.seed import DEMO_PRODUCTS, LOCATION_PRIORITY, seed_shop_in
from repos.migrations import migrate
from schemas.records import InventoryLevel
from stripe_emulator.server import EmulatorServer
from workers.queue import outbox_queue

CANARY = "zqcanary"
"""In every customer's email, name and address: it must never appear in a log line."""

SHOPS: dict[str, Literal["immediate", "delayed"]] = {"instant": "immediate", "delayed": "delayed"}
"""Shop id -> capture mode. Each shop is its own Stripe account in the emulator."""

CAPTURE_WINDOW_SECONDS = 8
"""The delayed-capture shop captures this soon after the order (production: an hour)."""

OUTCOMES = {
    "paid": 36,
    "declined": 8,
    "async_succeeded": 12,
    "async_failed": 6,
    "abandoned": 8,
    "cancelled": 6,
    "lapsed_paid": 8,
}
"""How a customer's checkout ends, with its weight in the plan. ``lapsed_paid`` is a slow
payment (async_pending) that settles successfully after the reaper released its hold."""

FAULT_KINDS = (
    "webhook_mode",
    "api_fault",
    "kill_worker",
    "kill_relay",
    "redis_restart",
    "postgres_restart",
)

KEPT = ("paid", "authorized", "captured")
"""Order statuses that keep the customer's money and the stock."""

WEBHOOK_RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0)
"""Stripe retries webhooks for three days; the emulator compresses that into a minute."""

CHILD_ENV = {
    "KASSA_CHECKOUT_RATE_LIMIT": "1000000/minute",
    "KASSA_LOG_LEVEL": "INFO",
    "KASSA_REAPER_INTERVAL": "1",
    "KASSA_RECONCILE_INTERVAL": "5",
    "KASSA_RELAY_POLL_SECONDS": "0.2",
    "KASSA_RELAY_REQUEUE_AFTER_SECONDS": "30",
    "PYTHONUNBUFFERED": "1",
}
"""Production defaults, but time is compressed: the reaper runs every second (30 s), the
reconciler every 5 s (60 s), the relay polls every 0.2 s (1 s) and its stale-job sweep, which recovers the job of a
SIGKILLed worker, hands a job out again after 30 s (120 s: longer than the suite's settle
period); and no rate limit, as every customer comes from 127.0.0.1. Job retries keep
their defaults (five attempts, 2 s doubling)."""


@dataclass(frozen=True)
class Customer:
    index: int
    shop: str
    lines: tuple[tuple[str, int], ...]
    via_cart: bool
    outcome: str
    replay: bool
    poll: bool
    shipping: str
    coupon: str | None
    pause: float

    @property
    def key(self) -> str:
        return f"chaos-{self.index:05d}-{self.shop}"

    def details(self) -> dict[str, Any]:
        """Distinctive personal data, so that any of it in a log is found."""
        n = self.index
        return {
            "email": f"{CANARY}.buyer{n}@example-shop.test",
            "name": f"Zqcanary Buyer{n}",
            "address": {
                "line1": f"{n} Zqcanary Lane",
                "city": "Zqcanaryville",
                "postal_code": f"ZQ{n:05d}",
                "country": "GB",
            },
        }


@dataclass(frozen=True)
class Fault:
    at: int
    """Injected once this many customers have started."""
    kind: str
    params: dict[str, Any]

    def label(self) -> str:
        detail = ", ".join(f"{k}={v}" for k, v in self.params.items())
        return f"{self.kind}({detail})"


@dataclass(frozen=True)
class ChaosConfig:
    customers: int = 40
    seed: int = 1
    concurrency: int = 8
    outcomes: tuple[str, ...] = tuple(OUTCOMES)
    faults: tuple[str, ...] = FAULT_KINDS
    fault_count: int | None = None
    """Default: every kind once, plus one more per 25 customers."""
    shops: tuple[str, ...] = tuple(SHOPS)
    stock_per_customer: float = 2.5
    """Units in stock per customer of a shop; a customer wants ~3.5 (holds of unpaid
    checkouts keep theirs for an hour), so checkouts run out and lapsed holds can find
    their stock gone."""
    settle_seconds: float = 90.0
    web_workers: int = 2
    keep: bool = False
    log: Callable[[str], None] = print


@dataclass(frozen=True)
class Plan:
    seed: int
    customers: list[Customer]
    faults: list[Fault]
    stock: dict[tuple[str, str, str], int]
    """(shop, sku, location) -> initial on_hand."""


def make_plan(config: ChaosConfig) -> Plan:
    rng = random.Random(config.seed)
    skus = [(sku, stock) for sku, _code, _name, _attrs, _amount, stock in DEMO_PRODUCTS]
    outcomes = list(config.outcomes)
    weights = [OUTCOMES[o] for o in outcomes]
    customers: list[Customer] = []
    for i in range(config.customers):
        chosen = rng.sample([s for s, _ in skus], rng.choice((1, 1, 2)))
        customers.append(
            Customer(
                index=i,
                shop=rng.choice(config.shops),
                lines=tuple((sku, rng.randint(1, 3)) for sku in chosen),
                via_cart=rng.random() < 0.4,
                outcome=rng.choices(outcomes, weights)[0],
                replay=rng.random() < 0.2,
                poll=rng.random() < 0.3,
                shipping=rng.choice(("standard", "standard", "pickup")),
                coupon="WELCOME10" if rng.random() < 0.2 else None,
                pause=round(rng.uniform(0.0, 0.5), 2),
            )
        )
    stock: dict[tuple[str, str, str], int] = {}
    locations = [(sku, loc) for sku, levels in skus for loc in levels]
    for shop in config.shops:
        buyers = sum(1 for c in customers if c.shop == shop)
        mean = max(1.0, config.stock_per_customer * buyers / len(locations))
        for sku, loc in locations:
            stock[(shop, sku, loc)] = rng.randint(math.ceil(mean / 2), math.ceil(1.5 * mean))
    faults: list[Fault] = []
    if config.faults:
        count = config.fault_count
        if count is None:
            count = len(config.faults) + config.customers // 25
        kinds = list(config.faults)
        rng.shuffle(kinds)
        kinds = (kinds + [rng.choice(config.faults) for _ in range(count)])[:count]
        low, high = max(1, config.customers // 20), max(2, config.customers * 4 // 5)
        ats = sorted(rng.randint(low, high) for _ in kinds)
        faults = [
            Fault(at, kind, _fault_params(rng, kind)) for at, kind in zip(ats, kinds, strict=True)
        ]
    return Plan(config.seed, customers, faults, stock)


def _fault_params(rng: random.Random, kind: str) -> dict[str, Any]:
    if kind == "webhook_mode":
        return {
            "duplicate": rng.randint(1, 4),
            "shuffle": rng.random() < 0.7,
            "delay_ms": [0, rng.choice((0, 200, 800, 2000))],
        }
    if kind == "api_fault":
        fault: dict[str, Any] = {
            "method": rng.choice(("*", "POST")),
            "path_prefix": rng.choice(
                (
                    "/v1/",
                    "/v1/checkout/sessions",
                    "/v1/refunds",
                    "/v1/payment_intents",
                    "/v1/customers",
                )
            ),
            "count": rng.randint(1, 4),
        }
        if rng.random() < 0.2:
            fault["slow_seconds"] = round(rng.uniform(0.5, 2.0), 1)
        else:
            fault["status"] = rng.choice((429, 500, 502, 503))
        return fault
    if kind in ("kill_worker", "kill_relay"):
        return {"down_seconds": round(rng.uniform(0.0, 2.0), 1)}
    return {"down_seconds": round(rng.uniform(0.5, 3.0), 1)}  # redis / postgres restart


@dataclass
class Report:
    seed: int
    customers: int
    outcomes: Counter[str] = field(default_factory=Counter)
    results: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    http: Counter[str] = field(default_factory=Counter)
    figures: dict[str, Any] = field(default_factory=dict)
    durations: dict[str, float] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)
    workdir: Path | None = None

    def summary(self) -> str:
        def counts(c: Counter[str]) -> str:
            return ", ".join(f"{k} {v}" for k, v in sorted(c.items())) or "-"

        lines = [
            f"chaos run: seed {self.seed}, {self.customers} customers",
            f"  planned outcomes: {counts(self.outcomes)}",
            f"  observed: {counts(self.results)}",
            f"  faults injected: {counts(self.faults)}",
            f"  HTTP retries seen by customers: {counts(self.http)}",
        ]
        lines += [
            f"  {k}: {dict(v) if isinstance(v, Counter) else v}" for k, v in self.figures.items()
        ]
        lines.append(
            "  durations: " + ", ".join(f"{k} {v:.1f}s" for k, v in self.durations.items())
        )
        if self.workdir is not None:
            lines.append(f"  kept: {self.workdir}")
        if self.violations:
            lines.append(f"VIOLATIONS ({len(self.violations)}):")
            lines += [f"  - {v}" for v in self.violations]
        else:
            lines.append("every invariant holds")
        return "\n".join(lines)


class ChaosStack:
    """The processes and servers of one run, and the faults that can be done to them."""

    def __init__(self, config: ChaosConfig, plan: Plan) -> None:
        self.config, self.plan = config, plan
        self.workdir = Path(tempfile.mkdtemp(prefix="kassa-chaos-"))
        self.services = start_services(self.workdir / "services", env={})
        self.emulator = EmulatorServer(port=0, webhook_retry_delays=WEBHOOK_RETRY_DELAYS)
        self.stack: Stack | None = None
        self._redis_restarts = 0

    # -- life cycle ---------------------------------------------------------------------

    def start(self) -> None:
        migrate(self.services.database_url)
        self.emulator.start()
        web_url = f"http://127.0.0.1:{free_port()}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("KASSA_")}
        env.update(CHILD_ENV)
        env.update(
            DATABASE_URL=self.services.database_url,
            REDIS_URL=self.services.redis_url,
            STRIPE_API_BASE=self.emulator.url,
            KASSA_PUBLIC_URL=web_url,
            KASSA_MAILBOX_DIR=str(self.workdir / "mailbox"),
        )
        self.stack = Stack(
            web_urls=[web_url],
            stripe_url=self.emulator.url,
            database_url=self.services.database_url,
            redis_url=self.services.redis_url,
            env=env,
            owned=True,
            workdir=self.workdir,
            services=self.services,
        )
        self._seed(web_url)
        for name in ("web", "relay", "worker"):
            self.spawn(name)
        wait_http(f"{web_url}/healthz", timeout=60, alive=self.stack.check_alive)
        self._wait_worker()

    def _seed(self, web_url: str) -> None:
        assert self.stack is not None
        with self.stack.container() as c:
            for shop_id in self.config.shops:
                key = api_key(shop_id)
                with c.uow() as uow:
                    seed_shop_in(
                        uow,
                        shop_id,
                        c.settings,
                        name=f"Chaos {shop_id}",
                        capture_mode=SHOPS[shop_id],
                        stripe_api_key=key,
                    )
                    shop = uow.shops.get(shop_id)
                    assert shop is not None
                    uow.shops.upsert(
                        shop.model_copy(update={"capture_window_seconds": CAPTURE_WINDOW_SECONDS})
                    )
                    for (s, sku, location), on_hand in self.plan.stock.items():
                        if s == shop_id:
                            uow.inventory.set_level(
                                shop_id,
                                InventoryLevel(
                                    sku=sku,
                                    location=location,
                                    priority=LOCATION_PRIORITY.get(location, 1),
                                    on_hand=on_hand,
                                    reserved=0,
                                ),
                            )
                    c.mirror.replace(shop_id, uow.inventory.on_hand_by_sku(shop_id))
                secret = c.payments.register_webhook(key, f"{web_url}/webhooks/stripe/{shop_id}")
                with c.uow() as uow:
                    uow.shops.set_webhook_secret(shop_id, secret)

    def _wait_worker(self, timeout: float = 60.0) -> None:
        assert self.stack is not None
        deadline = time.monotonic() + timeout
        with self.stack.container() as c:
            while time.monotonic() < deadline:
                self.stack.check_alive()
                with contextlib.suppress(Exception):
                    if Worker.all(queue=outbox_queue(c.redis)):
                        return
                time.sleep(0.1)
        raise StackError(f"no worker registered within {timeout:.0f}s")

    def stop(self) -> None:
        if self.stack is not None:
            self.stack.stop()
        self.emulator.stop()
        self.services.stop()
        if not self.config.keep:
            shutil.rmtree(self.workdir, ignore_errors=True)

    # -- faults -------------------------------------------------------------------------

    def inject(self, fault: Fault) -> None:
        p = fault.params
        if fault.kind == "webhook_mode":
            self.emulator_post("/_emulator/webhooks/mode", p)
        elif fault.kind == "api_fault":
            self.emulator_post("/_emulator/faults", p)
        elif fault.kind in ("kill_worker", "kill_relay"):
            name = fault.kind.removeprefix("kill_")
            assert self.stack is not None
            self.stack.kill(name)
            time.sleep(p["down_seconds"])
            self.spawn(name)
        elif fault.kind == "redis_restart":
            self.restart_redis(p["down_seconds"])
        elif fault.kind == "postgres_restart":
            self.restart_postgres(p["down_seconds"])
        else:
            raise ValueError(f"unknown fault {fault.kind}")

    def restart_redis(self, down_seconds: float) -> None:
        """Stop Redis and start an empty one on the same port: every key is lost."""
        old = self.services.redis
        assert old is not None, "a Redis restart needs the embedded Redis"
        old.stop()
        time.sleep(down_seconds)
        self._redis_restarts += 1
        new = EmbeddedRedis(self.workdir / "services" / f"redis-{self._redis_restarts}", old.port)
        new.start()
        self.services.redis = new
        self.services.stoppers.append(new.stop)

    def restart_postgres(self, down_seconds: float) -> None:
        """Fast shutdown (every connection dropped), then the same data dir and port again."""
        pg = self.services.postgres
        assert pg is not None, "a Postgres restart needs the embedded Postgres"
        pg.stop()
        time.sleep(down_seconds)
        pg.start()

    def spawn(self, name: str) -> None:
        assert self.stack is not None
        args = [name]
        if name == "web":
            port = self.stack.url.rsplit(":", 1)[1]
            args += ["--port", port, "--workers", str(self.config.web_workers)]
        self.stack.spawn(name, "ops.cli", *args)

    def supervise(self) -> list[str]:
        """A child that died on its own is a finding; start it again so the run goes on."""
        assert self.stack is not None
        found = []
        for name, code in self.stack.exited().items():
            found.append(f"process {name} exited by itself with code {code}")
            self.stack.procs.pop(name)
            self.spawn(name)
        return found

    def calm(self) -> None:
        """No more faults: clear pending API faults, deliver webhooks once, in order."""
        requests.delete(f"{self.emulator.url}/_emulator/faults", timeout=10).raise_for_status()
        self.emulator_post(
            "/_emulator/webhooks/mode", {"duplicate": 1, "shuffle": False, "delay_ms": [0, 0]}
        )

    def emulator_post(self, path: str, body: dict[str, Any]) -> None:
        requests.post(f"{self.emulator.url}{path}", json=body, timeout=30).raise_for_status()

    def log_files(self) -> list[Path]:
        files = sorted((self.workdir / "logs").glob("*.log"))
        return files + sorted((self.workdir / "services").glob("**/server.log"))


def api_key(shop_id: str) -> str:
    return f"sk_test_chaos_{shop_id}"


def sql(database_url: str, query: str, *params: object) -> list[dict[str, Any]]:
    with psycopg.connect(database_url, row_factory=dict_row, connect_timeout=5) as conn:
        return conn.execute(query, params).fetchall()


class ChaosRun:
    def __init__(self, config: ChaosConfig) -> None:
        self.config = config
        self.plan = make_plan(config)
        self.report = Report(config.seed, config.customers)
        self.report.outcomes.update(c.outcome for c in self.plan.customers)
        self._lock = threading.Lock()
        self._started = 0
        self._injected = threading.Condition()
        self._faults_done = 0
        self.checkouts: dict[str, Customer] = {}
        """Checkout id -> the customer who made it, to name the customer in a violation."""
        self.findings: list[str] = []
        """Violations seen during the run (a child that died, an idempotency slip)."""
        self.st: ChaosStack | None = None

    # -- the run ------------------------------------------------------------------------

    def execute(self) -> Report:
        log = self.config.log
        t0 = time.monotonic()
        sdk_log = logging.getLogger("stripe")
        sdk_level = sdk_log.level
        sdk_log.setLevel(logging.WARNING)  # the checks would log a line per request
        st = self.st = ChaosStack(self.config, self.plan)
        try:
            st.start()
            self.report.durations["setup"] = time.monotonic() - t0
            log(
                f"chaos: stack up in {self.report.durations['setup']:.1f}s; "
                f"{len(self.plan.customers)} customers, {len(self.plan.faults)} faults planned"
            )
            t1 = time.monotonic()
            with ThreadPoolExecutor(self.config.concurrency) as pool:
                futures = [pool.submit(self._customer_safely, c) for c in self.plan.customers]
                self._faults(lambda: all(f.done() for f in futures))
                for future in futures:
                    self.report.results[future.result()] += 1
            self.report.durations["load"] = time.monotonic() - t1
            log(f"chaos: load done in {self.report.durations['load']:.1f}s; settling")
            t2 = time.monotonic()
            st.calm()
            violations = self._settle()
            self.report.durations["settle"] = time.monotonic() - t2
            self.report.violations = self.findings + violations
            self.report.durations["total"] = time.monotonic() - t0
            if self.config.keep:
                self.report.workdir = st.workdir
        finally:
            st.stop()
            sdk_log.setLevel(sdk_level)
        return self.report

    def _faults(self, load_over: Callable[[], bool]) -> None:
        """Inject each planned fault once its customer has started (later customers wait
        for it); meanwhile restart any child that died on its own. Runs in the main
        thread, on purpose: a child started with PR_SET_PDEATHSIG gets its signal when
        the *thread* that started it ends, so a server restarted from a short-lived
        thread would be stopped with it."""
        assert self.st is not None
        pending = list(self.plan.faults)
        try:
            while not load_over():
                self._supervise()
                while pending and self._started >= pending[0].at:
                    fault = pending.pop(0)
                    self.config.log(f"chaos: after customer {fault.at}: {fault.label()}")
                    try:
                        self.st.inject(fault)
                        self.report.faults[fault.kind] += 1
                    except Exception as exc:
                        self.report.faults[f"{fault.kind} failed: {type(exc).__name__}"] += 1
                    with self._injected:
                        self._faults_done += 1
                        self._injected.notify_all()
                time.sleep(0.1)
        finally:  # never leave a customer waiting for a fault that will not come
            with self._injected:
                self._faults_done = len(self.plan.faults)
                self._injected.notify_all()

    def _supervise(self) -> None:
        assert self.st is not None
        found = self.st.supervise()
        with self._lock:
            self.findings += found

    def _settle(self) -> list[str]:
        """Wait for quiet (no outbox work, no webhook in flight) and a clean check, until the
        deadline; the violations of the last check are the result."""
        assert self.st is not None
        start = time.monotonic()
        deadline = start + self.config.settle_seconds
        violations: list[str] = ["never checked"]
        checks = 0
        told = start
        while True:
            self._supervise()
            busy = self._busy()
            late = time.monotonic() > deadline
            if busy and time.monotonic() - told > 30:
                told = time.monotonic()
                self.config.log(
                    f"chaos: still settling after {told - start:.0f}s: {', '.join(busy)}"
                )
            if not busy or late:
                started = time.monotonic()
                if not busy and "quiet after" not in self.report.figures:
                    self.report.figures["quiet after"] = f"{started - start:.1f}s"
                violations = self.check()
                checks += 1
                if not violations or late:
                    break
                # Healing can take a periodic job's interval: look again, not too often.
                time.sleep(max(2.0, time.monotonic() - started))
            else:
                time.sleep(0.5)
        self.report.figures["settle checks"] = checks
        if busy:
            self.report.figures["still busy at the deadline"] = ", ".join(busy)
        return violations

    def _busy(self) -> list[str]:
        assert self.st is not None
        busy: list[str] = []
        try:
            rows = sql(
                self.st.services.database_url,
                "SELECT state, count(*) AS n FROM outbox WHERE state IN ('pending', 'enqueued')"
                " GROUP BY state",
            )
            busy += [f"outbox {r['state']} {r['n']}" for r in rows]
        except psycopg.Error as exc:
            busy.append(f"postgres: {type(exc).__name__}")
        state = requests.get(f"{self.st.emulator.url}/_emulator/state", timeout=10).json()
        if state["webhooks"]["pending"]:
            busy.append(f"webhooks pending {state['webhooks']['pending']}")
        return busy

    # -- customers ----------------------------------------------------------------------

    def _customer_safely(self, c: Customer) -> str:
        # The faults planned before this customer happen first, whatever the timing: a
        # fault lands among the customers in flight, and the plan is always carried out.
        due = sum(1 for f in self.plan.faults if f.at <= c.index)
        with self._injected:
            self._injected.wait_for(lambda: self._faults_done >= due)
        with self._lock:
            self._started += 1
        try:
            return self._customer(c)
        except Exception as exc:  # the harness's own failure: shown in the figures
            return f"harness error {type(exc).__name__}"

    def _customer(self, c: Customer) -> str:
        assert self.st is not None and self.st.stack is not None
        web, emu = self.st.stack.url, self.st.emulator.url
        browser = requests.Session()
        browser.headers["X-Shop-Id"] = c.shop
        body: dict[str, Any] = {
            "shipping_option_id": c.shipping,
            "customer_email": c.details()["email"],
        }
        if c.coupon:
            body["coupon"] = c.coupon
        if c.via_cart:
            for sku, qty in c.lines:
                r = self._http(
                    browser, "POST", f"{web}/api/cart/items", json={"sku": sku, "quantity": qty}
                )
                if r is None or r.status_code >= 400:
                    return f"cart {_code(r)}"
        else:
            body["lines"] = [{"sku": sku, "quantity": qty} for sku, qty in c.lines]
        headers = {"Idempotency-Key": c.key}
        r = self._http(browser, "POST", f"{web}/api/checkout", json=body, headers=headers)
        if r is None or r.status_code >= 400:
            return f"checkout {_code(r)}"
        checkout = r.json()
        with self._lock:
            self.checkouts[checkout["checkout_id"]] = c
        if c.replay:
            again = self._http(browser, "POST", f"{web}/api/checkout", json=body, headers=headers)
            if again is not None and again.status_code < 400:
                if again.json()["checkout_id"] != checkout["checkout_id"]:
                    self.findings.append(
                        f"customer {c.index}: the same Idempotency-Key gave checkout "
                        f"{again.json()['checkout_id']} after {checkout['checkout_id']}"
                    )
        time.sleep(c.pause)
        session_id, checkout_id = checkout["session_id"], checkout["checkout_id"]
        result = c.outcome

        def complete(outcome: str) -> bool:
            payload: dict[str, Any] = {"outcome": outcome, "customer": c.details()}
            resp = requests.post(
                f"{emu}/_emulator/checkout/sessions/{session_id}/complete", json=payload, timeout=30
            )
            return resp.status_code < 400

        def settle_async(res: str) -> bool:
            resp = requests.post(
                f"{emu}/_emulator/checkout/sessions/{session_id}/async",
                json={"result": res},
                timeout=30,
            )
            return resp.status_code < 400

        if c.outcome == "cancelled":
            r = self._http(browser, "POST", f"{web}/api/checkout/{checkout_id}/cancel")
            if r is None or r.status_code >= 400:
                result = f"cancel {_code(r)}"
        elif c.outcome in ("paid", "declined"):
            if not complete(c.outcome):
                result = f"{c.outcome}: session not payable"
        elif c.outcome in ("async_succeeded", "async_failed", "lapsed_paid"):
            if not complete("async_pending"):
                result = f"{c.outcome}: session not payable"
            else:
                if c.outcome == "lapsed_paid" and not self._lapse(checkout_id):
                    result = "lapsed_paid: hold not reaped in time"
                time.sleep(c.pause)
                if not settle_async("failed" if c.outcome == "async_failed" else "succeeded"):
                    result = f"{c.outcome}: async settle refused"
        if c.poll:
            for _ in range(8):
                r = self._http(browser, "GET", f"{web}/api/checkout/{checkout_id}/status")
                state = r.json().get("state") if r is not None and r.status_code == 200 else None
                if state not in ("open", "paid", None):
                    break
                time.sleep(0.5)
            with self._lock:
                self.report.figures.setdefault("status polls", Counter())[str(state)] += 1
        return result

    def _lapse(self, checkout_id: str, timeout: float = 30.0) -> bool:
        """Let the hold run out, as a payment that takes days outlives an hour's hold: move
        its expiry into the past and wait for the worker's reaper to release it."""
        assert self.st is not None
        url = self.st.services.database_url
        deadline = time.monotonic() + timeout
        moved = False
        while time.monotonic() < deadline:
            try:
                if not moved:
                    sql(
                        url,
                        "UPDATE inventory_holds SET expires_at = now() - interval '1 second'"
                        " WHERE checkout_id = %s AND state = 'active' RETURNING id",
                        checkout_id,
                    )
                    moved = True
                active = sql(
                    url,
                    "SELECT id FROM inventory_holds WHERE checkout_id = %s AND state = 'active'",
                    checkout_id,
                )
                if not active:
                    return True
            except psycopg.Error:
                pass
            time.sleep(0.25)
        return False

    def _http(
        self, session: requests.Session, method: str, url: str, **kwargs: Any
    ) -> requests.Response | None:
        """A customer's request, retried (same headers, same Idempotency-Key) while the
        server is unreachable or answers 5xx; None if it never recovered."""
        for attempt in range(9):
            try:
                resp = session.request(method, url, timeout=30, **kwargs)
            except requests.RequestException as exc:
                label = type(exc).__name__
            else:
                if resp.status_code < 500:
                    return resp
                label = f"{resp.status_code} {_error_code(resp)}"
            with self._lock:
                self.report.http[label] += 1
            time.sleep(min(4.0, 0.25 * 2**attempt))
        return None

    # -- invariants ---------------------------------------------------------------------

    def check(self) -> list[str]:
        assert self.st is not None
        try:
            return self._check()
        except Exception as exc:  # e.g. Postgres still starting: a check that could not run
            return [f"the check itself failed: {type(exc).__name__}: {exc}"]

    def _check(self) -> list[str]:
        assert self.st is not None and self.st.stack is not None
        v: list[str] = []
        db = self.st.services.database_url
        orders = sql(
            db,
            "SELECT o.id, o.reference, o.shop_id, o.checkout_id, o.stripe_checkout_session_id AS sid,"
            " o.status, o.total, p.stripe_payment_intent_id AS pi, p.refunded_amount"
            " FROM orders o LEFT JOIN payments p ON p.order_id = o.id",
        )
        for col in ("checkout_id", "sid"):
            seen = Counter(str(o[col]) for o in orders)
            v += [f"{n} orders for {col} {k}" for k, n in seen.items() if n > 1]

        # Stock: never oversold, and what left the shelf is what was sold.
        levels = sql(db, "SELECT shop_id, sku, location, on_hand, reserved FROM inventory_levels")
        for lv in levels:
            where = f"{lv['shop_id']}/{lv['sku']}@{lv['location']}"
            if lv["on_hand"] < 0:
                v.append(f"oversold: {where} on_hand {lv['on_hand']}")
            if not 0 <= lv["reserved"] <= lv["on_hand"]:
                v.append(
                    f"reserved out of range: {where} reserved {lv['reserved']} on_hand {lv['on_hand']}"
                )
        sold = {
            (r["shop_id"], r["sku"]): int(r["n"])
            for r in sql(
                db,
                "SELECT o.shop_id, l.sku, sum(l.quantity) AS n FROM order_lines l"
                " JOIN orders o ON o.id = l.order_id WHERE o.status = ANY(%s) GROUP BY 1, 2",
                list(KEPT),
            )
        }
        initial: Counter[tuple[str, str]] = Counter()
        for (shop, sku, _loc), n in self.plan.stock.items():
            initial[(shop, sku)] += n
        on_hand: Counter[tuple[str, str]] = Counter()
        for lv in levels:
            on_hand[(lv["shop_id"], lv["sku"])] += lv["on_hand"]
        for key in sorted(set(initial) | set(sold)):
            if initial[key] - on_hand[key] != sold.get(key, 0):
                v.append(
                    f"stock of {key[0]}/{key[1]}: initial {initial[key]} - on_hand {on_hand[key]}"
                    f" != {sold.get(key, 0)} units in kept orders"
                )

        lapsed = sql(
            db,
            "SELECT checkout_id, expires_at FROM inventory_holds"
            " WHERE state = 'active' AND expires_at < now()",
        )
        v += [f"active hold past expiry: checkout {h['checkout_id']}" for h in lapsed]

        outbox = sql(
            db,
            "SELECT state, kind, count(*) AS n, max(last_error) AS err FROM outbox"
            " WHERE state <> 'done' GROUP BY 1, 2 ORDER BY 1, 2",
        )
        v += [
            f"outbox not done: {r['n']} {r['state']} {r['kind']} (last error {r['err']})"
            for r in outbox
        ]

        with self.st.stack.container() as c, c.uow() as uow:
            for shop in self.config.shops:
                mirror, truth = c.mirror.levels(shop), uow.inventory.on_hand_by_sku(shop)
                for sku in sorted(set(mirror) | set(truth)):
                    if mirror.get(sku) != truth.get(sku):
                        v.append(
                            f"stock mirror {shop}/{sku}: redis {mirror.get(sku)}"
                            f" != postgres {truth.get(sku)}"
                        )

        v += self._check_money(orders)
        v += self._check_logs()
        return v

    def _check_money(self, orders: list[dict[str, Any]]) -> list[str]:
        """Every paid session against Kassa's orders, from Stripe's side (the SDK)."""
        assert self.st is not None
        v: list[str] = []
        by_session = defaultdict(list)
        for o in orders:
            by_session[o["sid"]].append(o)
        figures: Counter[str] = Counter()
        known_sessions: set[str] = set()
        for shop in self.config.shops:
            client = stripe.StripeClient(
                api_key(shop), base_addresses={"api": self.st.emulator.url}
            )
            sessions = list(
                client.v1.checkout.sessions.list(params={"limit": 100}).auto_paging_iter()
            )
            refunds: dict[str, list[Any]] = defaultdict(list)
            for rf in client.v1.refunds.list(params={"limit": 100}).auto_paging_iter():
                if rf.status == "succeeded":
                    refunds[str(rf.payment_intent)].append(rf)
            captured = refunded = 0
            for s in sessions:
                known_sessions.add(s.id)
                figures[f"sessions {s.status}/{s.payment_status}"] += 1
                pi = (
                    client.v1.payment_intents.retrieve(str(s.payment_intent))
                    if s.payment_intent
                    else None
                )
                mine = by_session.get(s.id, [])
                paid = pi is not None and pi.status in ("succeeded", "requires_capture")
                checkout_id = s.metadata.to_dict().get("checkout_id") if s.metadata else None
                who = self.checkouts.get(str(checkout_id))
                by = f", customer {who.index} {who.outcome}" if who else ""
                what = f"{shop} session {s.id} (checkout {checkout_id}{by})"
                if pi is not None and pi.status == "canceled" and mine:
                    # A delayed-capture authorization given back instead of a refund: the
                    # order must not be kept.
                    if mine[0]["status"] in KEPT:
                        v.append(
                            f"kept order {mine[0]['reference']} for cancelled payment of {what}"
                        )
                    figures["authorizations released"] += 1
                    continue
                if not paid:
                    if mine:
                        v.append(f"order {mine[0]['reference']} for unpaid {what}")
                    continue
                assert pi is not None
                figures["paid sessions"] += 1
                got = int(pi.amount_received or 0)
                back = sum(int(r.amount) for r in refunds.get(pi.id, []))
                n_refunds = len(refunds.get(pi.id, []))
                captured += got
                refunded += back
                order = mine[0] if mine else None
                if pi.status == "requires_capture":
                    kept = order is not None and order["status"] == "authorized" and not back
                    fully_refunded = False
                else:
                    kept = order is not None and order["status"] in KEPT and back == 0
                    fully_refunded = (
                        n_refunds == 1
                        and back == got > 0
                        and (order is None or order["status"] not in KEPT)
                    )
                if kept:
                    figures["paid sessions with one order"] += 1
                elif fully_refunded:
                    figures["paid sessions refunded once"] += 1
                else:
                    v.append(
                        f"paid {what}: neither one order nor one full refund (payment intent"
                        f" {pi.status}, received {got}, {n_refunds} refund(s) of {back},"
                        f" order {(order['reference'], order['status']) if order else None})"
                    )
            kept_total = sum(
                o["total"]
                for o in orders
                if o["shop_id"] == shop
                and o["status"] in ("paid", "captured")
                and not o["refunded_amount"]
            )
            if captured - refunded != kept_total:
                v.append(
                    f"money of {shop}: captured {captured} - refunded {refunded} ="
                    f" {captured - refunded} != {kept_total} in kept orders"
                )
            figures[f"{shop} captured"] = captured
            figures[f"{shop} refunded"] = refunded
            figures[f"{shop} refunds"] = sum(len(r) for r in refunds.values())
        v += [
            f"order {o['reference']} for session {o['sid']} unknown to Stripe"
            for o in orders
            if o["sid"] not in known_sessions
        ]
        self.report.figures["orders"] = dict(Counter(o["status"] for o in orders))
        self.report.figures["stripe"] = dict(figures)
        state = requests.get(f"{self.st.emulator.url}/_emulator/state", timeout=10).json()
        self.report.figures["webhooks"] = state["webhooks"]
        return v

    def _check_logs(self) -> list[str]:
        assert self.st is not None
        v: list[str] = []
        lines = 0
        for path in self.st.log_files():
            with path.open(errors="replace") as f:
                for number, line in enumerate(f, 1):
                    lines += 1
                    if CANARY in line.lower():
                        v.append(f"personal data in {path.name}:{number}: {line.strip()[:160]}")
        self.report.figures["log lines scanned"] = lines
        return v


def run(config: ChaosConfig) -> Report:
    return ChaosRun(config).execute()


def _code(resp: requests.Response | None) -> str:
    if resp is None:
        return "gave up after retries"
    return f"{resp.status_code} {_error_code(resp)}"


def _error_code(resp: requests.Response) -> str:
    try:
        return str(resp.json()["error"]["code"])
    except Exception:
        return "-"

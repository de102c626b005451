"""Real backing services for the whole test session: embedded Postgres and Redis (or the
servers named by DATABASE_URL / REDIS_URL, or testcontainers), migrated once, and wiped
between tests by truncation rather than by mocks."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from devstack.services import Services, start_services
from kassa.bootstrap import Container, bootstrap
from outbox.relay import EPOCH_KEY
from repos.migrations import migrate
from schemas.settings import Settings
from stripe_emulator.server import EmulatorServer

TABLES = (
    "merchant_idempotency_keys, stock_ledger, api_keys, audit_events, merchant_events,"
    " merchant_webhook_endpoints, outbox, stripe_events, stripe_event_cursors, order_events,"
    " payment_events, payments, order_lines, orders, inventory_hold_lines,"
    " inventory_holds, checkouts, inventory_levels, coupons, shipping_options, products, shops"
)


@pytest.fixture(scope="session")
def services() -> Iterator[Services]:
    with tempfile.TemporaryDirectory(prefix="kassa-test-") as tmp:
        svc = start_services(Path(tmp))
        try:
            migrate(svc.database_url)
            yield svc
        finally:
            svc.stop()


@pytest.fixture(scope="session")
def emulator_server() -> Iterator[EmulatorServer]:
    server = EmulatorServer(port=0, webhook_retry_delays=[0.2, 0.5, 1.0, 2.0, 4.0])
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def emulator(emulator_server: EmulatorServer) -> EmulatorServer:
    """The Stripe emulator, wiped before each test."""
    requests.post(f"{emulator_server.url}/_emulator/reset", timeout=5).raise_for_status()
    return emulator_server


@pytest.fixture(scope="session")
def base_settings(services: Services, emulator_server: EmulatorServer) -> Settings:
    return Settings(
        DATABASE_URL=services.database_url,
        REDIS_URL=services.redis_url,
        STRIPE_API_BASE=emulator_server.url,
        KASSA_PUBLIC_URL="http://127.0.0.1:8000",
        KASSA_STRIPE_MAX_RETRIES=2,
        KASSA_DB_POOL_TIMEOUT=2,
        # Relay and worker processes serve no metrics unless a test gives them a port:
        # several run at once on one machine.
        KASSA_RELAY_METRICS_PORT=0,
        KASSA_WORKER_METRICS_PORT=0,
    )


@pytest.fixture
def settings(base_settings: Settings) -> Settings:
    return base_settings


@pytest.fixture
def container(settings: Settings, emulator: EmulatorServer) -> Iterator[Container]:
    c = bootstrap(settings)
    with c.db.pool.connection() as conn:
        conn.execute(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE")
    c.redis.flushdb()
    # As if a relay had already run against this Redis: a test that sets the stock mirror by
    # hand is not about Redis losing its data (tests about that remove the marker).
    c.redis.set(EPOCH_KEY, "1")
    try:
        yield c
    finally:
        c.close()


_OWN_BASETEMP = pytest.StashKey[str]()


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """As root, embedded Postgres runs as a system user that must be able to walk down to its
    data directory, and ``start_services`` opens the path up for it. pytest's shared root
    (``/tmp/pytest-of-root``) is set back to mode 0700 by every pytest session that starts,
    so another session starting on the same machine (another checkout's suite) could cut a
    test's Postgres off its data directory in the middle of ``initdb``. A session of ours
    takes a temporary root of its own instead (kept when a test failed, for its files)."""
    if os.geteuid() == 0 and config.option.basetemp is None:
        config.option.basetemp = tempfile.mkdtemp(prefix="kassa-pytest-")
        config.stash[_OWN_BASETEMP] = config.option.basetemp


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    own = session.config.stash.get(_OWN_BASETEMP, None)
    if own and exitstatus == 0:
        shutil.rmtree(own, ignore_errors=True)


def pytest_report_header() -> str:
    backend = os.environ.get("KASSA_TEST_BACKEND", "embedded")
    return f"kassa backing services: {backend}"


@pytest.fixture
def app(container: Container) -> Flask:
    from web.app import create_app

    application = create_app(container)
    application.testing = True
    return application


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    """The app on a real threaded HTTP server, for tests that need true concurrency."""
    import threading

    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)

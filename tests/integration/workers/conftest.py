"""Fixtures for the outbox tests: fast settings, worker processes, an in-thread relay, an
SMTP sink and the demo shop. Every process and server a test starts is stopped after it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from integration.workers.outbox_support import Orders, RelayThread, SmtpSink, WorkerProcess

from kassa.bootstrap import Container
from ops.seed import seed_shop_in
from outbox.relay import Relay
from schemas.settings import Settings


@pytest.fixture
def settings(base_settings: Settings, tmp_path: Path) -> Settings:
    """Fast clocks: a 1 s stale sweep, 1 s retry intervals, three attempts."""
    return base_settings.model_copy(
        update={
            "relay_poll_seconds": 0.2,
            "relay_requeue_after_seconds": 1,
            "job_max_attempts": 3,
            "job_retry_base_seconds": 0.2,
            "smtp_port": 0,
            "mailbox_dir": str(tmp_path / "mailbox"),
            "reaper_interval_seconds": 3600.0,
            "log_level": "INFO",
        }
    )


@pytest.fixture
def worker_process(settings: Settings, tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    """Start ``kassa worker`` processes; every one is stopped at the end of the test."""
    started: list[WorkerProcess] = []

    def start(worker_settings: Settings | None = None) -> WorkerProcess:
        wp = WorkerProcess(worker_settings or settings, tmp_path / f"worker-{len(started)}.log")
        started.append(wp.start())
        return wp

    yield start
    for wp in started:
        wp.stop()


@pytest.fixture
def relay_thread() -> Iterator[Callable[[Container], RelayThread]]:
    """``Relay.run_forever`` in a thread of the test process, stopped cleanly at the end."""
    started: list[RelayThread] = []

    def start(container: Container) -> RelayThread:
        rt = RelayThread(Relay(container)).start()
        started.append(rt)
        return rt

    yield start
    for rt in started:
        rt.stop()


@pytest.fixture
def smtp_sink() -> Iterator[Callable[..., SmtpSink]]:
    """An aiosmtpd server on 127.0.0.1 that keeps every message it is given."""
    started: list[SmtpSink] = []

    def start(port: int = 0) -> SmtpSink:
        sink = SmtpSink.start(port)
        started.append(sink)
        return sink

    yield start
    for sink in started:
        sink.stop()


@pytest.fixture(autouse=True)
def demo_shop(container: Container) -> None:
    with container.uow() as uow:
        seed_shop_in(uow, "demo", container.settings, stripe_api_key="sk_test_kassa_demo")


@pytest.fixture
def orders(container: Container) -> Orders:
    return Orders(container)

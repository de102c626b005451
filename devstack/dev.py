"""``kassa dev``: the whole stack on one machine from a fresh clone, and nothing left behind.

Backing services come from ``devstack.services``; migrations, demo shops, the Stripe emulator
with a webhook endpoint per shop, then the Procfile's processes as children of one
``Supervisor``: the kernel stops them if this process dies, and Ctrl-C/SIGTERM stop them in
order.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from collections.abc import Callable

from devstack.envfile import STATE_DIR, write_dev_env
from devstack.processes import Supervisor, free_port, wait_http
from devstack.services import Services, start_services
from kassa.bootstrap import bootstrap
from ops.seed import register_webhook_endpoint, seed_and_mirror
from repos.migrations import migrate
from schemas.settings import Settings

DEV_SHOPS = {"demo": ("usd", "Kassa Demo Shop"), "tokyo": ("jpy", "Kassa Tokyo")}


def step(label: str) -> Callable[[], None]:
    """Print a progress line now and its duration when the returned callable is called."""
    started = time.monotonic()
    print(f"  ▸ {label} …", end="", flush=True)
    return lambda: print(f" ok ({time.monotonic() - started:.2f}s)", flush=True)


def settings_from(env: dict[str, str]) -> Settings:
    """Settings as the child processes will see them (pydantic-settings reads os.environ)."""
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        return Settings()
    finally:
        os.environ.clear()
        os.environ.update(saved)


def prepare(env: dict[str, str], sup: Supervisor) -> None:
    """Migrate, start the emulator (unless ``STRIPE_API_BASE`` is set), seed the dev shops,
    start relay and worker. Mutates ``env`` (shared with the supervisor) so later children
    see the same URLs."""
    done = step("migrations")
    migrate(env["DATABASE_URL"])
    done()
    use_emulator = "STRIPE_API_BASE" not in os.environ
    if use_emulator:
        port = free_port()
        done = step(f"Stripe emulator on 127.0.0.1:{port}")
        env["STRIPE_API_BASE"] = f"http://127.0.0.1:{port}"
        sup.spawn("emulator", "ops.cli", "emulator", "--port", str(port))
        wait_http(f"{env['STRIPE_API_BASE']}/_emulator/state", alive=sup.check_alive)
        done()
    settings = settings_from(env)
    done = step("seed shops " + ", ".join(DEV_SHOPS))
    c = bootstrap(settings)
    try:
        for shop_id, (currency, name) in DEV_SHOPS.items():
            # With the emulator every shop is its own Stripe account, so each webhook
            # endpoint receives only its own shop's events.
            key = f"sk_test_kassa_{shop_id}" if use_emulator else settings.stripe_api_key
            seed_and_mirror(c, shop_id, currency=currency, name=name, stripe_api_key=key)
            if use_emulator:
                register_webhook_endpoint(c, shop_id, settings.public_url)
    finally:
        c.close()
    done()
    # Free ports for their /metrics, so a second stack on this machine does not collide.
    for key in ("KASSA_RELAY_METRICS_PORT", "KASSA_WORKER_METRICS_PORT"):
        env.setdefault(key, str(free_port()))
    done = step("outbox relay and worker")
    sup.spawn("relay", "ops.cli", "relay")
    sup.spawn("worker", "ops.cli", "worker")
    done()


class _Stop(Exception):
    pass


def _raise_stop(signum: int, frame: object) -> None:
    raise _Stop()


def run_dev(port: int = 8000, fresh: bool = False) -> int:
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGINT, _raise_stop)
    log_dir = STATE_DIR / "logs"
    data_dir = STATE_DIR / "data"
    if fresh:
        shutil.rmtree(data_dir, ignore_errors=True)
    print("Kassa dev: starting the whole stack (Ctrl-C stops everything)")
    started = time.monotonic()
    services: Services | None = None
    sup: Supervisor | None = None
    env_file = None
    try:
        done = step("Postgres and Redis (embedded)")
        services = start_services(data_dir)
        done()
        public_url = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            "DATABASE_URL": services.database_url,
            "REDIS_URL": services.redis_url,
            "KASSA_PUBLIC_URL": public_url,
            "KASSA_MAILBOX_DIR": str(STATE_DIR / "mailbox"),
            "PYTHONUNBUFFERED": "1",
        }
        # A merchant webhook receiver under development listens on this machine.
        env.setdefault("KASSA_WEBHOOK_ALLOW_PRIVATE", "1")
        sup = Supervisor(log_dir=log_dir, env=env)
        prepare(env, sup)
        done = step(f"web on {public_url}")
        sup.spawn("web", "ops.cli", "web", "--port", str(port))
        wait_http(f"{public_url}/healthz", alive=sup.check_alive)
        done()
        env_file = write_dev_env(STATE_DIR, env)
        print(f"\nReady in {time.monotonic() - started:.1f}s. Storefront: {public_url}/")
        print(
            f"Metrics: {public_url}/metrics, relay :{env['KASSA_RELAY_METRICS_PORT']}/metrics,"
            f" worker :{env['KASSA_WORKER_METRICS_PORT']}/metrics"
        )
        print(
            f"Logs in {log_dir}/. Other `kassa` commands run from here use this stack"
            f" (URLs in {env_file}).",
            flush=True,
        )
        while True:
            dead = sup.dead_child()
            if dead:
                print(f"\n{dead} exited unexpectedly; see {sup.log_path(dead)}")
                return 1
            time.sleep(0.5)
    except _Stop:
        print("\nStopping …", flush=True)
        return 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if env_file is not None:
            env_file.unlink(missing_ok=True)  # its ports die with this stack
        if sup is not None:
            sup.stop()
        if services is not None:
            services.stop()
        print("Stopped.", flush=True)

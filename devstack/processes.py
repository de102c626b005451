"""Child processes that the kernel stops when their parent dies, one supervisor for them, and
the readiness waits that ``kassa dev``, the benches and the tests share.

Every child is started in its own session (so its whole process group can be signalled, a
gunicorn master's or an RQ worker's children included) with ``PR_SET_PDEATHSIG``: even when
the parent is killed with SIGKILL, nothing is left behind.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

_PR_SET_PDEATHSIG = 1
T = TypeVar("T")


class ChildExited(RuntimeError):
    """A supervised child process exited while it was expected to run."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def die_with_parent(sig: int, uid: int | None = None, gid: int | None = None) -> Callable[[], None]:
    """A ``preexec_fn``: a new session, privileges dropped (if asked), then ``sig`` from the
    kernel when our parent dies.

    The death signal must be set after setuid, because changing credentials clears it.
    """

    def preexec() -> None:
        os.setsid()
        if gid is not None:
            os.setgid(gid)
        if uid is not None:
            os.setuid(uid)
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, sig)

    return preexec


def wait_for(
    check: Callable[[], T],
    timeout: float = 20.0,
    what: str = "condition",
    context: Callable[[], str] | None = None,
    interval: float = 0.05,
) -> T:
    """Poll ``check`` until it returns something truthy and return that. At the deadline raise
    ``TimeoutError`` naming ``what`` and, if given, ``context()`` (a log tail, say). ``check``
    may raise to give up early (a child that died while we waited)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            extra = f"\n{context()}" if context else ""
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}{extra}")
        time.sleep(interval)


def http_ok(url: str) -> bool:
    """True when ``url`` answers with a status below 500."""
    try:
        with urllib.request.urlopen(url, timeout=1) as resp:
            return int(resp.status) < 500
    except urllib.error.HTTPError as exc:
        return exc.code < 500
    except OSError:
        return False


def wait_http(url: str, timeout: float = 30.0, alive: Callable[[], None] | None = None) -> None:
    """Until ``url`` answers below 500; ``alive`` (e.g. ``Supervisor.check_alive``) may raise
    to stop waiting on a server that has already died."""

    def ready() -> bool:
        if alive is not None:
            alive()
        return http_ok(url)

    wait_for(ready, timeout, f"{url} to answer")


def _killpg(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


@dataclass
class Supervisor:
    """Named ``python -m ...`` children, each logging to ``log_dir/<name>.log``, each in its own
    process group, each stopped by the kernel with ``death_signal`` if we die first."""

    log_dir: Path
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    cwd: Path | None = None
    death_signal: int = signal.SIGTERM
    children: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def spawn(
        self, name: str, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        running = self.children.get(name)
        if running is not None and running.poll() is None:
            raise ChildExited(f"{name} is already running")
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path(name), "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", *args],
                cwd=self.cwd,
                env={**self.env, **(env or {})},
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=die_with_parent(self.death_signal),
            )
        self.children[name] = proc
        return proc

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def log_tail(self, name: str, lines: int = 40) -> str:
        path = self.log_path(name)
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def dead_child(self) -> str | None:
        return next((n for n, p in self.children.items() if p.poll() is not None), None)

    def check_alive(self) -> None:
        """Raise ``ChildExited`` (with the end of its log) if any child has exited."""
        name = self.dead_child()
        if name is not None:
            code = self.children[name].returncode
            raise ChildExited(
                f"{name} exited with code {code}; last lines of {self.log_path(name)}:\n"
                + self.log_tail(name)
            )

    def kill(self, name: str) -> None:
        """SIGKILL to the child's whole group: no cleanup, no goodbye to Redis or Postgres."""
        proc = self.children[name]
        if proc.poll() is None:
            _killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)

    def kill_all(self) -> None:
        """SIGKILL every child's group at once, as when the machine under them dies: none of
        them gets to notice another one going first."""
        running = [proc for proc in self.children.values() if proc.poll() is None]
        for proc in running:
            _killpg(proc.pid, signal.SIGKILL)
        for proc in running:
            proc.wait(10)

    def stop_process(self, name: str, timeout: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL to the group after ``timeout``; returns the exit code."""
        proc = self.children.pop(name, None)
        if proc is None:
            return None
        self._stop_all([proc], timeout)
        return proc.returncode

    def stop(self, timeout: float = 10.0) -> None:
        """Stop every child (newest first), together, within ``timeout``."""
        procs = list(self.children.values())[::-1]
        self.children.clear()
        self._stop_all(procs, timeout)

    @staticmethod
    def _stop_all(procs: list[subprocess.Popen[bytes]], timeout: float) -> None:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + timeout
        for proc in procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            _killpg(proc.pid, signal.SIGKILL)  # what the leader left behind (an RQ scheduler)

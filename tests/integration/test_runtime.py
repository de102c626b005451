"""The embedded servers never outlive the process that started them, even a SIGKILLed one."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from devstack.services import ServiceError, start_services


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split()[2] == "Z")


def test_servers_die_with_a_killed_parent(tmp_path: Path) -> None:
    script = textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        from devstack.services import start_services
        s = start_services(Path({str(tmp_path)!r}), env={{}})
        print(s.postgres.pid, s.redis.pid, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == -9, out.stderr
    pids = [int(p) for p in out.stdout.split()]
    assert len(pids) == 2
    deadline = time.monotonic() + 10
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(alive(p) for p in pids)


def test_a_clean_stop_leaves_nothing_and_data_survives_a_restart(tmp_path: Path) -> None:
    first = start_services(tmp_path, env={})
    assert first.postgres is not None and first.redis is not None
    pids = [first.postgres.pid, first.redis.pid]
    first.stop()
    assert not any(alive(p) for p in pids if p)
    again = start_services(tmp_path, env={})  # restarts on the existing data directory
    again.stop()


def test_containers_without_docker_fail_clearly(tmp_path: Path) -> None:
    pytest.importorskip("docker")
    with pytest.raises(ServiceError, match="needs a running Docker engine"):
        start_services(tmp_path, env={"KASSA_TEST_BACKEND": "containers"})


def test_explicit_urls_win(tmp_path: Path) -> None:
    services = start_services(
        tmp_path, env={"DATABASE_URL": "postgresql://x/y", "REDIS_URL": "redis://z"}
    )
    assert (services.database_url, services.redis_url) == ("postgresql://x/y", "redis://z")
    assert services.postgres is None and services.redis is None


@pytest.mark.skipif(os.geteuid() != 0, reason="only root runs Postgres as another user")
def test_test_data_directories_are_out_of_reach_of_other_pytest_sessions(tmp_path: Path) -> None:
    """Another pytest session starting on the machine resets pytest's shared root to 0700
    (see tests/conftest.py): a test's Postgres data directory must not live under it."""
    assert "pytest-of-" not in str(tmp_path)
    assert tmp_path.parent.name.startswith("kassa-pytest-")

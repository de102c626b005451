"""``kassa migrate`` from several replicas at once: one applies, the others wait and find
nothing pending, and every migration is recorded exactly once."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from integration.workers.outbox_support import ROOT, env_for

from devstack.processes import wait_for
from devstack.services import Services
from repos.migrations import ADVISORY_LOCK_KEY, APPLICATION_NAME, MIGRATIONS_DIR
from schemas.settings import Settings


@pytest.fixture
def empty_database(services: Services) -> Iterator[str]:
    name = f"kassa_migrate_{uuid.uuid4().hex[:8]}"
    admin = services.database_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield services.database_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def test_concurrent_migrations_apply_each_migration_once(
    base_settings: Settings, empty_database: str
) -> None:
    env = env_for(base_settings.model_copy(update={"database_url": empty_database}))
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "ops.cli", "migrate"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0, 0], [err for _, err in outputs]
    expected = sorted(p.stem for p in MIGRATIONS_DIR.glob("*.sql"))
    counts = sorted(int(out.split()[1]) for out, _ in outputs)
    assert counts == [0, 0, len(expected)], outputs
    with psycopg.connect(empty_database) as conn:
        recorded = [r[0] for r in conn.execute("SELECT migration_id FROM _yoyo_migration")]
    assert sorted(recorded) == expected


def test_migrate_waits_for_the_advisory_lock(base_settings: Settings, empty_database: str) -> None:
    """While another replica holds the migration lock, ``kassa migrate`` keeps trying for it
    (seen in pg_stat_activity) and touches nothing; once it is released, it applies all."""
    env = env_for(base_settings.model_copy(update={"database_url": empty_database}))
    with psycopg.connect(empty_database, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
        run = subprocess.Popen(
            [sys.executable, "-m", "ops.cli", "migrate"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

        def trying() -> bool:
            assert run.poll() is None, run.communicate()
            row = holder.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s"
                " AND query LIKE %s AND datname = current_database()",
                (APPLICATION_NAME, "%pg_try_advisory_lock%"),
            ).fetchone()
            return bool(row and row[0])

        wait_for(trying, timeout=60, what="kassa migrate to try for the advisory lock")
        tables = holder.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
        assert tables == (0,)  # nothing touched while it waits
        holder.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))
    out, err = run.communicate(timeout=120)
    assert run.returncode == 0, err
    assert out.startswith(f"applied {len(list(MIGRATIONS_DIR.glob('*.sql')))} migration(s)")

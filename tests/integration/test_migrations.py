"""Migrations: ``kassa migrate`` from several replicas at once (one applies, the others wait
and find nothing pending, every migration recorded exactly once), and the schema they build.

Every migration, applied in order to an empty database, yields exactly the schema written
down in ``schema_snapshot.txt`` beside this file: tables, columns (type, nullability,
default), constraints, indexes, triggers, sequences and functions, one sorted line each, so
a failure shows a readable diff.

A branch that adds a migration regenerates the snapshot with one command and commits it
with the migration (review the diff: it is the schema change):

    KASSA_UPDATE_SCHEMA_SNAPSHOT=1 .venv/bin/python -m pytest tests/integration/test_migrations.py -k snapshot

Two branches that both add migrations merge by keeping both migrations and running that
command again on the merged tree.
"""

from __future__ import annotations

import difflib
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from integration.workers.outbox_support import ROOT, env_for

from devstack.processes import wait_for
from devstack.services import Services
from repos.migrations import ADVISORY_LOCK_KEY, APPLICATION_NAME, MIGRATIONS_DIR, migrate
from schemas.settings import Settings

SNAPSHOT = Path(__file__).with_name("schema_snapshot.txt")
UPDATE_ENV = "KASSA_UPDATE_SCHEMA_SNAPSHOT"
YOYO_TABLES = ("_yoyo_log", "_yoyo_migration", "_yoyo_version", "yoyo_lock")

COLUMNS = """
    SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
           pg_get_expr(d.adbin, d.adrelid)
    FROM pg_attribute a
    JOIN pg_class c ON c.oid = a.attrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
"""
CONSTRAINTS = """
    SELECT c.relname, k.conname, pg_get_constraintdef(k.oid)
    FROM pg_constraint k
    JOIN pg_class c ON c.oid = k.conrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND k.contype <> 'n'  -- NOT NULL is on the column's line
"""
INDEXES = "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
OTHER_OBJECTS = """
    SELECT CASE c.relkind WHEN 'S' THEN 'sequence' WHEN 'v' THEN 'view'
                          WHEN 'm' THEN 'materialized view' ELSE c.relkind::text END,
           c.relname
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND c.relkind IN ('S', 'v', 'm')
"""
TRIGGERS = """
    SELECT c.relname, t.tgname, pg_get_triggerdef(t.oid)
    FROM pg_trigger t
    JOIN pg_class c ON c.oid = t.tgrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND NOT t.tgisinternal
"""
FUNCTIONS = """
    SELECT p.proname, pg_get_function_identity_arguments(p.oid)
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'
"""


def one_line(definition: str) -> str:
    return " ".join(definition.split())


def schema_lines(database_url: str) -> list[str]:
    """The public schema as sorted, diffable lines (yoyo's own bookkeeping left out)."""
    lines: list[str] = []
    with psycopg.connect(database_url) as conn:
        for table, column, type_, not_null, default in conn.execute(COLUMNS):
            if table in YOYO_TABLES:
                continue
            nullability = "NOT NULL" if not_null else "NULL"
            suffix = f" DEFAULT {default}" if default is not None else ""
            lines.append(f"column     {table}.{column} {type_} {nullability}{suffix}")
        for table, name, definition in conn.execute(CONSTRAINTS):
            if table not in YOYO_TABLES:
                lines.append(f"constraint {table}.{name} {one_line(definition)}")
        for table, name, definition in conn.execute(INDEXES):
            if table not in YOYO_TABLES:
                lines.append(f"index      {table}.{name} {one_line(definition)}")
        for table, name, definition in conn.execute(TRIGGERS):
            lines.append(f"trigger    {table}.{name} {one_line(definition)}")
        for kind, name in conn.execute(OTHER_OBJECTS):
            lines.append(f"{kind:<10} {name}")
        for name, args in conn.execute(FUNCTIONS):
            lines.append(f"function   {name}({args})")
    return sorted(lines)


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


def test_snapshot_migrations_build_the_expected_schema(empty_database: str) -> None:
    applied = migrate(empty_database)
    assert applied, "no migration was applied to an empty database"
    actual = schema_lines(empty_database)
    if os.environ.get(UPDATE_ENV):
        SNAPSHOT.write_text("\n".join(actual) + "\n")
    expected = SNAPSHOT.read_text().splitlines()
    diff = "\n".join(
        difflib.unified_diff(expected, actual, "schema_snapshot.txt", "migrated", lineterm="")
    )
    assert actual == expected, (
        f"The migrated schema differs from {SNAPSHOT.name}. If the change is intended, run\n"
        f"  {UPDATE_ENV}=1 .venv/bin/python -m pytest tests/integration/test_migrations.py -k snapshot\n"
        f"and commit the snapshot.\n{diff}"
    )
    assert migrate(empty_database) == []  # idempotent: nothing left to apply
    assert schema_lines(empty_database) == actual


def test_snapshot_detects_a_change(empty_database: str) -> None:
    """The comparison is not vacuous: one altered column shows up as a diff line."""
    migrate(empty_database)
    before = set(schema_lines(empty_database))
    with psycopg.connect(empty_database) as conn:
        conn.execute("ALTER TABLE orders ALTER COLUMN customer_name SET NOT NULL")
    changed = set(schema_lines(empty_database)) ^ before
    assert changed == {
        "column     orders.customer_name text NULL",
        "column     orders.customer_name text NOT NULL",
    }

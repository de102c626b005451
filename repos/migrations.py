"""Apply the plain-SQL migrations in order, once each, recorded by yoyo-migrations."""

from __future__ import annotations

from pathlib import Path

from yoyo import get_backend, read_migrations

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def yoyo_url(database_url: str) -> str:
    """yoyo picks its driver from the scheme; ``postgresql://`` would ask for psycopg2."""
    scheme, _, rest = database_url.partition("://")
    if scheme in {"postgres", "postgresql"}:
        return f"postgresql+psycopg://{rest}"
    return database_url


def migrate(database_url: str) -> list[str]:
    """Apply what is pending under a lock (safe when several processes start at once)."""
    backend = get_backend(yoyo_url(database_url))
    migrations = read_migrations(str(MIGRATIONS_DIR))
    with backend.lock():
        pending = backend.to_apply(migrations)
        backend.apply_migrations(pending)
    return [m.id for m in pending]

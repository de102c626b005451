"""yoyo picks its database driver from the URL's scheme: Kassa's plain Postgres URLs must
name psycopg 3 (yoyo would otherwise ask for psycopg2, which is not installed)."""

from __future__ import annotations

import pytest

from repos.migrations import yoyo_url


@pytest.mark.parametrize("scheme", ["postgres", "postgresql"])
def test_plain_postgres_urls_name_psycopg_3(scheme: str) -> None:
    url = f"{scheme}://kassa:secret@db.internal:5432/kassa?sslmode=require"
    assert (
        yoyo_url(url) == "postgresql+psycopg://kassa:secret@db.internal:5432/kassa?sslmode=require"
    )


def test_a_url_that_names_its_driver_is_kept() -> None:
    url = "postgresql+psycopg://kassa@db.internal/kassa"
    assert yoyo_url(url) == url

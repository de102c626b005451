"""Read the plans Postgres really uses for a repository's statements (auto_explain)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from kassa.bootstrap import Container

PLAN_MODES = ("force_custom_plan", "force_generic_plan")


@contextmanager
def plans(container: Container, mode: str) -> Iterator[tuple[Any, list[str]]]:
    """A unit of work whose statements' plans are sent back as notices (auto_explain), with
    sequential scans off so that an empty test table does not hide a missing index. Each
    statement is prepared at once and planned in ``mode``: a long-running process's
    statements are prepared by psycopg after 5 runs, and Postgres may then plan them
    without their parameters (a generic plan)."""
    seen: list[str] = []
    with container.uow() as uow:
        threshold = uow.conn.prepare_threshold
        uow.conn.prepare_threshold = 0
        uow.conn.execute("LOAD 'auto_explain'")
        for setting, value in (
            ("auto_explain.log_min_duration", "0"),
            ("auto_explain.log_level", "notice"),
            ("enable_seqscan", "off"),
            ("plan_cache_mode", mode),
        ):
            uow.conn.execute("SELECT set_config(%s, %s, true)", (setting, value))

        def note(diag: psycopg.errors.Diagnostic) -> None:
            seen.append(diag.message_primary or "")

        uow.conn.add_notice_handler(note)
        try:
            yield uow, seen
            # A plan is logged when its portal closes, which the next statement does.
            uow.conn.execute("SELECT 1")
        finally:
            uow.conn.remove_notice_handler(note)
            uow.conn.prepare_threshold = threshold
            uow.conn.execute("SELECT set_config('auto_explain.log_min_duration', '-1', true)")

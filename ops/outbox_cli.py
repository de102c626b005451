"""``kassa relay``, ``kassa worker``, ``kassa dlq``, ``kassa reap``, ``kassa reconcile``."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    """Add the outbox-related subcommands to the ``kassa`` parser."""
    _ = argparse

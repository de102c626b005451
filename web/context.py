"""Per-app and per-request context: the container, and the shop a request is scoped to."""

from __future__ import annotations

from typing import cast

from flask import current_app, g

from kassa.bootstrap import Container
from schemas.records import Shop


def container() -> Container:
    return cast(Container, current_app.extensions["kassa"])


def shop() -> Shop:
    """The shop resolved from X-Shop-Id by the tenancy hook; views never read the header."""
    return cast(Shop, g.shop)

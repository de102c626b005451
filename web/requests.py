"""Turning a request body into a validated model, with the contract's errors for bad input."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from flask import request
from pydantic import BaseModel

from checkout.errors import InvalidJson, InvalidRequest
from checkout.validation import validate

M = TypeVar("M", bound=BaseModel)


def parse_body(model: type[M]) -> M:
    raw = request.get_data(cache=True)
    try:
        data: Any = json.loads(raw) if raw.strip() else {}
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidJson() from exc
    return validate(model, data)


def page_limit(default: int = 100, most: int = 500) -> int:
    """``?limit=`` of a paged list: a whole number from 1 to ``most``."""
    raw = request.args.get("limit", str(default))
    if not raw.isdigit() or not 1 <= int(raw) <= most:
        raise InvalidRequest(f"limit must be a whole number from 1 to {most}.")
    return int(raw)

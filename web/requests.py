"""Turning a request body into a validated model, with the contract's errors for bad input."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from flask import request
from pydantic import BaseModel

from checkout.errors import InvalidJson
from checkout.validation import validate

M = TypeVar("M", bound=BaseModel)


def parse_body(model: type[M]) -> M:
    raw = request.get_data(cache=True)
    try:
        data: Any = json.loads(raw) if raw.strip() else {}
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidJson() from exc
    return validate(model, data)

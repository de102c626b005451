"""Turning a request into validated values, with the contract's errors for bad input.

Nothing a client sends reaches a use case unchecked: a JSON body is bounded in size
(``MAX_CONTENT_LENGTH``, 413), media type (415) and nesting depth (400) before a pydantic
model validates it (422), and every path segment, query value, form field and named header
is checked for control characters and length (422) before any hook or view reads it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from flask import request
from pydantic import BaseModel
from werkzeug.exceptions import UnsupportedMediaType

from checkout.errors import InvalidRequest
from checkout.validation import load_json, validate
from schemas.text import MAX_PARAMETER, text_problem

M = TypeVar("M", bound=BaseModel)

MAX_BODY_BYTES = 256 * 1024
"""``MAX_CONTENT_LENGTH``: the largest cart (100 lines) is a few kilobytes."""

CHECKED_HEADERS = ("X-Shop-Id", "Idempotency-Key", "X-Checkout-Nonce", "X-Modification-Token")
"""The headers whose values Kassa reads (the rest are the server's or are only compared)."""

_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def parse_body(model: type[M]) -> M:
    return validate(model, json_body())


def json_body() -> Any:
    """The body as JSON; an empty body without a media type is ``{}`` (a bodyless POST
    means "use my cart")."""
    raw = request.get_data(cache=True)  # werkzeug answers 413 past MAX_CONTENT_LENGTH
    if not request.is_json and (request.mimetype or raw.strip()):
        raise UnsupportedMediaType("Send the body as application/json.")
    if not raw.strip():
        return {}
    return load_json(raw)


def page_limit(default: int = 100, most: int = 500) -> int:
    """``?limit=`` of a paged list: a whole number from 1 to ``most``."""
    raw = request.args.get("limit", str(default))
    if not raw.isdigit() or not 1 <= int(raw) <= most:
        raise InvalidRequest(f"limit must be a whole number from 1 to {most}.")
    return int(raw)


def reject_unsafe_text() -> None:
    """A ``before_request`` hook, first of all: path, query, form and header values that
    Postgres or Redis would refuse (NUL, lone surrogates) or that no id is (control
    characters, more than ``MAX_PARAMETER`` characters) end here as a 422."""
    sources: list[tuple[str, Iterable[tuple[str, object]]]] = [
        ("path", (request.view_args or {}).items()),
        ("query", request.args.items(multi=True)),
        ("header", ((h, request.headers[h]) for h in CHECKED_HEADERS if h in request.headers)),
    ]
    if request.mimetype in _FORM_TYPES:
        sources.append(("form", request.form.items(multi=True)))
    details = [
        {"loc": [where, name], "msg": problem, "type": "value_error"}
        for where, items in sources
        for name, value in items
        if isinstance(value, str) and (problem := text_problem(value, MAX_PARAMETER))
    ]
    if details:
        raise InvalidRequest(details=details)

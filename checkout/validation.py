"""Validating data against a model with the contract's error for bad input, shared by the
web tier (request bodies) and use cases that merge a patch into what is stored."""

from __future__ import annotations

import json
from typing import Any, TypedDict, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError

from checkout.errors import InvalidJson, InvalidRequest, JsonTooDeep

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


class ErrorDetail(TypedDict):
    """One entry of an invalid request's ``details``: where and why."""

    loc: list[int | str]
    msg: str
    type: str


def error_details(exc: ValidationError) -> list[ErrorDetail]:
    """Where and why, but not the input: it may carry personal data back into logs."""
    return [
        {"loc": list(err["loc"]), "msg": err["msg"], "type": err["type"]}
        for err in exc.errors(include_input=False, include_url=False)
    ]


def validate(model: type[M], data: Any) -> M:
    """``data`` is anything from outside (a parsed body, a merged patch): Any until the
    model says what it is."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidRequest(details=error_details(exc)) from exc


def validate_field(adapter: TypeAdapter[T], value: object, field: str) -> T:
    """One value (a path segment, say) checked like the body field it stands for."""
    try:
        return adapter.validate_python(value)
    except ValidationError as exc:
        details = [
            ErrorDetail(loc=[field, *d["loc"]], msg=d["msg"], type=d["type"])
            for d in error_details(exc)
        ]
        raise InvalidRequest(details=details) from exc


MAX_JSON_DEPTH = 32
"""Kassa's deepest input has a few levels (a catalog: document, products, stock, row); 32
leaves room and stops ``[[[[…`` long before the parser's recursion limit."""


def load_json(raw: bytes | str) -> Any:
    """JSON from outside: InvalidJson if it does not parse, JsonTooDeep past
    ``MAX_JSON_DEPTH`` levels (which would otherwise end in a RecursionError)."""
    try:
        data = json.loads(raw)
    except RecursionError:
        raise JsonTooDeep() from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidJson() from exc
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise JsonTooDeep()
            children = value.values() if isinstance(value, dict) else value
            stack.extend((child, depth + 1) for child in children)
    return data

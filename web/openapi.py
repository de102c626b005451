"""``/openapi.json`` built from the same pydantic models the views validate with.

Views stay plain Flask (so every error keeps our one error shape); a decorator
attaches their request and response models, and this module walks the URL map.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Literal, TypeVar

from flask import Flask
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from checkout.validation import MAX_JSON_DEPTH
from schemas.api import MAX_BIGINT, ErrorResponse
from schemas.text import MAX_PARAMETER, PRINTABLE
from web.requests import MAX_BODY_BYTES

F = TypeVar("F", bound=Callable[..., Any])

_RULE_PARTS = re.compile(r"<(?:([^:>(]+)(\([^)]*\))?:)?([^>]+)>")
"""A werkzeug rule's ``<converter(args):name>`` parts."""

Security = Literal["operator", "merchant"]

SECURITY_SCHEMES: dict[str, dict[str, str]] = {
    "operatorToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "The operator's KASSA_ADMIN_TOKEN.",
    },
    "merchantKey": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "kassa_sk_<id>_<secret>",
        "description": "A shop's API key (kassa apikey create); it acts for that shop only.",
    },
}
REQUIREMENTS: dict[Security, list[dict[str, list[str]]]] = {
    "operator": [{"operatorToken": []}],
    # The operator token acts for any shop it names with X-Shop-Id.
    "merchant": [{"merchantKey": []}, {"operatorToken": []}],
}


def documented(
    summary: str,
    *,
    body: type[BaseModel] | None = None,
    response: type[BaseModel] | None = None,
    status: int | tuple[int, ...] = 200,
    errors: dict[int, str] | None = None,
    headers: dict[str, str] | None = None,
    security: Security | None = None,
    query: dict[str, str] | None = None,
    content_types: tuple[str, ...] = ("application/json",),
    raw_body: bool = False,
) -> Callable[[F], F]:
    """Attach a view's contract. ``security`` names who may call it; ``query`` documents
    query parameters (name -> description); ``content_types`` the accepted request bodies.
    ``status`` may name several success codes (201 new, 200 replay); ``errors`` are the
    view's own answers, to which ``build_spec`` adds those every request can get.
    ``raw_body``: the view reads the bytes itself (a webhook verifies a signature over
    them) instead of ``web.requests.parse_body``, so only the size limit applies."""

    def mark(view: F) -> F:
        view.__openapi__ = {  # type: ignore[attr-defined]
            "summary": summary,
            "body": body,
            "response": response,
            "status": (status,) if isinstance(status, int) else status,
            "errors": errors or {},
            "headers": headers or {},
            "security": security,
            "query": query or {},
            "content_types": content_types,
            "raw_body": raw_body,
        }
        return view

    return mark


TEXT_PARAMETER = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_PARAMETER,
    "pattern": PRINTABLE,
}
"""What ``web.requests.reject_unsafe_text`` lets through, for path, query and header values."""

SHOP_ERRORS = {400: "shop_required", 404: "shop_not_found"}
"""Every ``/api/*`` request: the tenancy hook's answers."""

BODY_ERRORS = {
    400: f"invalid_json, or json_too_deep (nested more than {MAX_JSON_DEPTH} levels)",
    413: f"payload_too_large (over {MAX_BODY_BYTES // 1024} KiB)",
    415: "unsupported_media_type (a body that is not application/json)",
    422: "invalid_request (the body does not fit the schema)",
}

TEXT_ERRORS = {422: "invalid_request (a control character or an over-long value)"}
UNAVAILABLE = {503: "service_unavailable: Postgres or Redis is down (Retry-After)"}


def _parameter(name: str, where: str, required: bool, converter: str = "") -> dict[str, Any]:
    schema: dict[str, Any] = TEXT_PARAMETER
    if converter == "int":
        schema = {"type": "integer", "minimum": 0, "maximum": MAX_BIGINT}
    elif where == "header":  # HTTP itself keeps control characters out of header values
        schema = {k: v for k, v in TEXT_PARAMETER.items() if k != "pattern"}
    return {"name": name, "in": where, "required": required, "schema": schema}


def _errors(path: str, meta: dict[str, Any]) -> dict[int, str]:
    """The view's own error answers, and those every request of its kind can get (any
    request may carry a query string, so any may get the 422 for an unsafe value)."""
    texts: dict[int, list[str]] = {}
    extra: list[dict[int, str]] = [meta["errors"], TEXT_ERRORS]
    if path.startswith("/api/"):
        extra.append(SHOP_ERRORS)
    if meta["body"] is not None:
        extra.append({413: BODY_ERRORS[413]} if meta["raw_body"] else BODY_ERRORS)
    if not path.startswith(("/healthz", "/readyz")):
        extra.append(UNAVAILABLE)
    for more in extra:
        for code, text in more.items():
            if text not in texts.setdefault(code, []):
                texts[code].append(text)
    return {code: "; ".join(texts[code]) for code in sorted(texts)}


def build_spec(app: Flask, title: str, version: str) -> dict[str, Any]:
    ops: list[tuple[str, str, list[tuple[str, str]], dict[str, Any]]] = []
    models: set[type[BaseModel]] = {ErrorResponse}
    for rule in app.url_map.iter_rules():
        meta = getattr(app.view_functions[rule.endpoint], "__openapi__", None)
        if meta is None:
            continue
        converters = [(name, conv) for conv, _, name in _RULE_PARTS.findall(rule.rule)]
        path = _RULE_PARTS.sub(lambda m: "{" + m.group(3) + "}", rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            ops.append((path, method, converters, meta))
            models.update(m for m in (meta["body"], meta["response"]) if m is not None)
    refs, schemas = models_json_schema(
        [(m, "validation") for m in sorted(models, key=lambda m: m.__name__)],
        ref_template="#/components/schemas/{model}",
    )

    def ref(model: type[BaseModel]) -> dict[str, str]:
        """The model's reference as pydantic named it (two models of one name differ)."""
        return {"$ref": refs[(model, "validation")]["$ref"]}

    paths: dict[str, dict[str, Any]] = {}
    for path, method, converters, meta in ops:
        op: dict[str, Any] = {"summary": meta["summary"], "responses": {}}
        params = [_parameter(name, "path", True, conv) for name, conv in converters]
        params += [
            {**_parameter(q, "query", False), "description": text}
            for q, text in meta["query"].items()
        ]
        headers = dict(meta["headers"])
        if path.startswith("/api/"):
            headers["X-Shop-Id"] = "required"
        params += [_parameter(h, "header", req == "required") for h, req in headers.items()]
        if params:
            op["parameters"] = params
        if meta["body"] is not None:
            op["requestBody"] = {
                "required": True,
                "content": {
                    ctype: {
                        "schema": ref(meta["body"])
                        if ctype == "application/json"
                        else {"type": "string"}
                    }
                    for ctype in meta["content_types"]
                },
            }
        if meta["security"] is not None:
            op["security"] = REQUIREMENTS[meta["security"]]
        for status in meta["status"]:
            ok: dict[str, Any] = {"description": "OK"}
            if meta["response"] is not None:
                ok["content"] = {"application/json": {"schema": ref(meta["response"])}}
            op["responses"][str(status)] = ok
        for code, text in _errors(path, meta).items():
            op["responses"][str(code)] = {
                "description": text,
                "content": {"application/json": {"schema": ref(ErrorResponse)}},
            }
        paths.setdefault(path, {})[method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": schemas.get("$defs", {}),
            "securitySchemes": SECURITY_SCHEMES,
        },
    }

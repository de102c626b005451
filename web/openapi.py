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

from schemas.api import ErrorResponse

F = TypeVar("F", bound=Callable[..., Any])

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
    status: int = 200,
    errors: dict[int, str] | None = None,
    headers: dict[str, str] | None = None,
    security: Security | None = None,
    query: dict[str, str] | None = None,
    content_types: tuple[str, ...] = ("application/json",),
) -> Callable[[F], F]:
    """Attach a view's contract. ``security`` names who may call it; ``query`` documents
    query parameters (name -> description); ``content_types`` the accepted request bodies."""

    def mark(view: F) -> F:
        view.__openapi__ = {  # type: ignore[attr-defined]
            "summary": summary,
            "body": body,
            "response": response,
            "status": status,
            "errors": errors or {},
            "headers": headers or {},
            "security": security,
            "query": query or {},
            "content_types": content_types,
        }
        return view

    return mark


def build_spec(app: Flask, title: str, version: str) -> dict[str, Any]:
    ops: list[tuple[str, str, dict[str, Any]]] = []
    models: set[type[BaseModel]] = {ErrorResponse}
    for rule in app.url_map.iter_rules():
        meta = getattr(app.view_functions[rule.endpoint], "__openapi__", None)
        if meta is None:
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            ops.append((re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule), method, meta))
            models.update(m for m in (meta["body"], meta["response"]) if m is not None)
    refs, schemas = models_json_schema(
        [(m, "validation") for m in sorted(models, key=lambda m: m.__name__)],
        ref_template="#/components/schemas/{model}",
    )

    def ref(model: type[BaseModel]) -> dict[str, str]:
        """The model's reference as pydantic named it (two models of one name differ)."""
        return {"$ref": refs[(model, "validation")]["$ref"]}

    paths: dict[str, dict[str, Any]] = {}
    for path, method, meta in ops:
        op: dict[str, Any] = {"summary": meta["summary"], "responses": {}}
        params = [
            {"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
            for n in re.findall(r"{([^}]+)}", path)
        ]
        params += [
            {"name": h, "in": "header", "required": req == "required", "schema": {"type": "string"}}
            for h, req in meta["headers"].items()
        ]
        params += [
            {
                "name": q,
                "in": "query",
                "required": False,
                "description": text,
                "schema": {"type": "string"},
            }
            for q, text in meta["query"].items()
        ]
        if path.startswith("/api/"):
            params.append(
                {
                    "name": "X-Shop-Id",
                    "in": "header",
                    "required": True,
                    "schema": {"type": "string"},
                }
            )
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
        ok: dict[str, Any] = {"description": "OK"}
        if meta["response"] is not None:
            ok["content"] = {"application/json": {"schema": ref(meta["response"])}}
        op["responses"][str(meta["status"])] = ok
        for code, text in meta["errors"].items():
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

"""``/openapi.json`` built from the same pydantic models the views validate with.

Views stay plain Flask (so every error keeps our one error shape); a decorator
attaches their request and response models, and this module walks the URL map.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from schemas.api import ErrorResponse

F = TypeVar("F", bound=Callable[..., Any])


def documented(
    summary: str,
    *,
    body: type[BaseModel] | None = None,
    response: type[BaseModel] | None = None,
    status: int = 200,
    errors: dict[int, str] | None = None,
    headers: dict[str, str] | None = None,
) -> Callable[[F], F]:
    def mark(view: F) -> F:
        view.__openapi__ = {  # type: ignore[attr-defined]
            "summary": summary,
            "body": body,
            "response": response,
            "status": status,
            "errors": errors or {},
            "headers": headers or {},
        }
        return view

    return mark


def ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


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
    _, schemas = models_json_schema(
        [(m, "validation") for m in sorted(models, key=lambda m: m.__name__)],
        ref_template="#/components/schemas/{model}",
    )
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
                "content": {"application/json": {"schema": ref(meta["body"])}},
            }
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
        "components": {"schemas": schemas.get("$defs", {})},
    }

"""HTTP request and response bodies: what storefronts send and receive."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

MAX_BIGINT = 2**63 - 1
"""The largest id Postgres's ``bigint`` holds: a bigger one in a URL is no such row (404)."""


class ErrorBody(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorResponse(BaseModel):
    error: ErrorBody


class Health(BaseModel):
    status: str
    checks: dict[str, str] = Field(default_factory=dict)


class WebhookReceived(BaseModel):
    received: bool
    result: str


class StrictInput(BaseModel):
    """Inputs refuse unknown fields, except where a field is known but ignored on purpose."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

"""Ops endpoints behind the admin token: outbox rows by state, and replay of dead ones.

Thin views over ``checkout.outbox_admin``, the same service ``kassa dlq`` uses.
"""

from __future__ import annotations

import hmac
from typing import get_args

from flask import Blueprint, Response, jsonify, request

from checkout import outbox_admin
from checkout.errors import InvalidRequest, NotFound, Unauthorized
from schemas.records import OutboxState
from web.context import container
from web.openapi import documented

bp = Blueprint("ops", __name__, url_prefix="/ops")

AUTH = {"Authorization": "required"}


@bp.before_request
def require_admin_token() -> None:
    """``Authorization: Bearer $KASSA_ADMIN_TOKEN``, compared in constant time."""
    expected = container().settings.admin_token
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if (
        not expected
        or scheme.lower() != "bearer"
        or not hmac.compare_digest(given.strip().encode(), expected.encode())
    ):
        raise Unauthorized()


@bp.get("/outbox")
@documented(
    "Outbox rows in one state (default dead), without payloads",
    response=outbox_admin.OutboxList,
    errors={401: "missing or wrong admin token", 422: "unknown state"},
    headers=AUTH,
)
def list_outbox() -> Response:
    state = request.args.get("state", "dead")
    if state not in get_args(OutboxState):
        raise InvalidRequest(details={"state": list(get_args(OutboxState))})
    kind = request.args.get("kind") or None
    with container().uow() as uow:
        rows = outbox_admin.rows(uow, state, kind)  # type: ignore[arg-type]
    return jsonify(outbox_admin.OutboxList(rows).model_dump(mode="json"))


@bp.post("/outbox/<int:row_id>/replay")
@documented(
    "Put a dead outbox row back to pending",
    response=outbox_admin.Replayed,
    errors={401: "missing or wrong admin token", 404: "no such dead row"},
    headers=AUTH,
)
def replay_outbox_row(row_id: int) -> Response:
    with container().uow() as uow:
        replayed = outbox_admin.replay(uow, [row_id])
    if not replayed:
        raise NotFound("No dead outbox row with this id.")
    return jsonify(outbox_admin.Replayed(replayed=replayed).model_dump())

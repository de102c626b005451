"""Ops endpoints behind the admin token: outbox rows by state, and replay of dead ones.

Thin views over ``checkout.outbox_admin``, the same service ``kassa dlq`` uses.
"""

from __future__ import annotations

from typing import get_args

from flask import Blueprint, Response, jsonify, request
from pydantic import TypeAdapter, ValidationError

from checkout import outbox_admin
from checkout.errors import InvalidRequest, NotFound
from schemas.api import MAX_BIGINT
from schemas.ops import OutboxList, Replayed
from schemas.records import OutboxState
from web.admin_auth import require_operator
from web.context import container
from web.openapi import documented

bp = Blueprint("ops", __name__, url_prefix="/ops")
STATE: TypeAdapter[OutboxState] = TypeAdapter(OutboxState)

bp.before_request(require_operator)


@bp.get("/outbox")
@documented(
    "Outbox rows in one state (default dead), without payloads",
    response=OutboxList,
    errors={401: "unauthorized", 422: "invalid_request (an unknown state)"},
    security="operator",
    query={"state": "pending, enqueued, done or dead (default dead)", "kind": "one message kind"},
)
def list_outbox() -> Response:
    try:
        state = STATE.validate_python(request.args.get("state", "dead"))
    except ValidationError:
        raise InvalidRequest(details={"state": list(get_args(OutboxState))}) from None
    rows = outbox_admin.rows(container(), state, request.args.get("kind") or None)
    return jsonify(OutboxList(rows).model_dump(mode="json"))


@bp.post(f"/outbox/<int(max={MAX_BIGINT}):row_id>/replay")
@documented(
    "Put a dead outbox row back to pending",
    response=Replayed,
    errors={401: "unauthorized", 404: "not_found (no such dead row)"},
    security="operator",
)
def replay_outbox_row(row_id: int) -> Response:
    replayed = outbox_admin.replay(container(), [row_id])
    if not replayed:
        raise NotFound("No dead outbox row with this id.")
    return jsonify(Replayed(replayed=replayed).model_dump())

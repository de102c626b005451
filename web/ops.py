"""Ops endpoints behind the admin token: outbox rows by state, and replay of dead ones.

Thin views over ``checkout.outbox_admin``, the same service ``kassa dlq`` uses.
"""

from __future__ import annotations

from typing import get_args

from flask import Blueprint, Response, jsonify, request

from checkout import outbox_admin
from checkout.errors import InvalidRequest, NotFound
from schemas.records import OutboxState
from web.admin_auth import require_operator
from web.context import container
from web.openapi import documented

bp = Blueprint("ops", __name__, url_prefix="/ops")

bp.before_request(require_operator)


@bp.get("/outbox")
@documented(
    "Outbox rows in one state (default dead), without payloads",
    response=outbox_admin.OutboxList,
    errors={401: "missing or wrong admin token", 422: "unknown state"},
    security="operator",
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
    security="operator",
)
def replay_outbox_row(row_id: int) -> Response:
    with container().uow() as uow:
        replayed = outbox_admin.replay(uow, [row_id])
    if not replayed:
        raise NotFound("No dead outbox row with this id.")
    return jsonify(outbox_admin.Replayed(replayed=replayed).model_dump())

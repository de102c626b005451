"""Events out for the merchant: the event feed and webhook endpoints (``/admin``)."""

from __future__ import annotations

from uuid import UUID

from flask import Blueprint, Response, jsonify, request

from checkout.errors import InvalidRequest
from merchant import events
from schemas.merchant_events import (
    EndpointCreate,
    EndpointCreated,
    EndpointList,
    EventPage,
    WebhookEndpoint,
)
from web.admin_auth import actor, merchant_shop, register_merchant_auth, write
from web.context import container
from web.openapi import documented
from web.requests import page_limit, parse_body

bp = Blueprint("admin_events", __name__, url_prefix="/admin")
register_merchant_auth(bp)


@bp.get("/events")
@documented(
    "The shop's events in order, after a cursor (for consumers that poll)",
    response=EventPage,
    errors={401: "unauthorized", 422: "invalid_request"},
    security="merchant",
    query={"after": "the seq of the last event seen (0 for the first page)", "limit": "1-500"},
)
def feed() -> Response:
    after = request.args.get("after", "0")
    if not after.isdigit() or len(after) > 18:
        raise InvalidRequest("after must be a whole number (an event's seq).")
    page = events.feed(container(), merchant_shop().id, int(after), page_limit(default=100))
    return jsonify(page.model_dump(mode="json"))


@bp.get("/webhook-endpoints")
@documented(
    "The shop's webhook endpoints (without secrets)",
    response=EndpointList,
    errors={401: "unauthorized"},
    security="merchant",
)
def list_endpoints() -> Response:
    return jsonify(events.list_endpoints(container(), merchant_shop().id).model_dump(mode="json"))


@bp.post("/webhook-endpoints")
@documented(
    "Add an endpoint; its signing secret is in this answer only",
    body=EndpointCreate,
    response=EndpointCreated,
    status=201,
    errors={401: "unauthorized", 422: "invalid_request"},
    security="merchant",
)
def create_endpoint() -> Response:
    created = events.create_endpoint(container(), actor(), parse_body(EndpointCreate))
    resp = jsonify(created.model_dump(mode="json"))
    resp.status_code = 201
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.delete("/webhook-endpoints/<endpoint_id>")
@documented(
    "Stop deliveries to an endpoint (its queued deliveries are skipped)",
    response=WebhookEndpoint,
    errors={401: "unauthorized", 404: "not_found"},
    security="merchant",
)
def disable_endpoint(endpoint_id: str) -> Response:
    try:
        eid = UUID(endpoint_id)
    except ValueError:
        raise InvalidRequest("Not an endpoint id.") from None
    shop_id = merchant_shop().id
    return write(
        "webhook_endpoint.disable",
        str(eid),
        lambda uow: events.disable_endpoint_in(uow, shop_id, eid),
    )

"""The merchant's side of events out: the feed, and the endpoints that receive it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from uuid import UUID

from checkout.errors import InvalidRequest, NotFound
from checkout.merchant_events import new_endpoint_secret
from checkout.ports import Services
from checkout.webhook_targets import private_target
from merchant.writes import Actor
from repos.merchant_events import EndpointRow
from repos.unit_of_work import UnitOfWork
from schemas.merchant_events import (
    EndpointCreate,
    EndpointCreated,
    EndpointList,
    EventPage,
    WebhookEndpoint,
)

FEED_MAX = 500


def feed(services: Services, shop_id: str, after: int, limit: int) -> EventPage:
    """Events after ``after`` (a ``seq``), oldest first; ``next_after`` is null at the end."""
    limit = max(1, min(limit, FEED_MAX))
    with services.uow() as uow:
        events = uow.merchant_events.after(shop_id, after, limit + 1)
    page = events[:limit]
    return EventPage(events=page, next_after=page[-1].seq if len(events) > limit else None)


def list_endpoints(services: Services, shop_id: str) -> EndpointList:
    with services.uow() as uow:
        return EndpointList(uow.merchant_events.endpoints(shop_id))


def create_endpoint(services: Services, actor: Actor, body: EndpointCreate) -> EndpointCreated:
    """A new endpoint and its signing secret, shown this once (stored encrypted, audited
    without it). Not replayable by Idempotency-Key: that would mean keeping the secret.
    A URL into a private network is refused (``checkout.webhook_targets``)."""
    refused = None if services.settings.webhook_allow_private else private_target(str(body.url))
    if refused is not None:
        raise InvalidRequest(
            f"Webhooks are delivered to public addresses only: {refused}.",
            details={"field": "url"},
        )
    row = EndpointRow(
        id=uuid.uuid4(),
        shop_id=actor.shop_id,
        url=str(body.url),
        secret=new_endpoint_secret(),
        event_types=list(body.event_types),
        active=True,
        created_at=datetime.now(UTC),
    )
    with services.uow() as uow:
        uow.merchant_events.add_endpoint(row)
        uow.audit.add(
            actor.shop_id,
            "merchant.webhook_endpoint.create",
            str(row.id),
            {"event_types": [*row.event_types]},
            actor=actor.label,
        )
    public = WebhookEndpoint.model_validate(row.model_dump(exclude={"secret"}))
    return EndpointCreated(**public.model_dump(), secret=row.secret)


def disable_endpoint_in(
    uow: UnitOfWork, shop_id: str, endpoint_id: UUID
) -> tuple[int, WebhookEndpoint]:
    if not uow.merchant_events.deactivate(shop_id, endpoint_id):
        raise NotFound("No such webhook endpoint.")
    row = uow.merchant_events.endpoint(shop_id, endpoint_id)
    assert row is not None
    return 200, WebhookEndpoint.model_validate(row.model_dump(exclude={"secret"}))

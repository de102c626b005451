"""Webhook endpoints: where an account's events go, each with its own signing secret."""

from __future__ import annotations

from stripe_emulator import defaults
from stripe_emulator.errors import (
    invalid_api_version,
    invalid_param,
    missing_param,
    resource_missing,
)
from stripe_emulator.events import check_event_type
from stripe_emulator.ids import new_id
from stripe_emulator.models import Account, WebhookEndpoint
from stripe_emulator.params import ParamReader


def find_endpoint(account: Account, endpoint_id: str) -> WebhookEndpoint:
    endpoint = account.webhook_endpoints.get(endpoint_id)
    if endpoint is None:
        raise resource_missing("webhook_endpoint", endpoint_id)
    return endpoint


def create(account: Account, reader: ParamReader, now: int) -> WebhookEndpoint:
    reader.only(("api_version", "connect", "description", "enabled_events", "metadata", "url"))
    if reader.data.get("connect") == "true":
        raise invalid_param("connect", "The Stripe emulator has no Connect accounts.")
    url = reader.url("url", required=True)
    events = _enabled_events(reader, required=True)
    api_version = reader.string("api_version")
    if api_version is not None and api_version not in defaults.API_VERSIONS:
        raise invalid_api_version(api_version, param="api_version")
    assert url is not None
    endpoint = WebhookEndpoint(
        id=new_id("we"),
        created=now,
        url=url,
        enabled_events=events,
        secret=new_id("whsec"),
        api_version=api_version,
        description=reader.string("description", allow_empty=True) or None,
        metadata=reader.apply_metadata({}),
    )
    account.webhook_endpoints[endpoint.id] = endpoint
    return endpoint


def update(endpoint: WebhookEndpoint, reader: ParamReader) -> None:
    reader.only(("description", "disabled", "enabled_events", "metadata", "url"))
    url = reader.url("url")
    events = _enabled_events(reader, required=False)
    disabled = reader.boolean("disabled")
    metadata = reader.apply_metadata(endpoint.metadata)
    if url is not None:
        endpoint.url = url
    if events:
        endpoint.enabled_events = events
    if disabled is not None:
        endpoint.status = "disabled" if disabled else "enabled"
    if reader.has("description"):
        endpoint.description = reader.string("description", allow_empty=True) or None
    endpoint.metadata = metadata


def _enabled_events(reader: ParamReader, *, required: bool) -> list[str]:
    events = reader.strings("enabled_events", required=required) or []
    if required and not events:
        raise missing_param("enabled_events")
    return [check_event_type(f"enabled_events[{i}]", event) for i, event in enumerate(events)]

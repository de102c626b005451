"""Delivering one signed event to a merchant's endpoint over HTTP.

A 2xx answer is a delivery; anything else (an error status, a timeout, a refused
connection) raises, and the outbox retries with exponential backoff until the last attempt
makes the row dead, visible to ops and replayable. Redirects are not followed: the
endpoint's URL is the one the merchant registered, and nothing else receives its events.
Nor is a URL whose host resolves to a loopback, private, link-local or otherwise
non-public address, unless ``KASSA_WEBHOOK_ALLOW_PRIVATE`` says so: a merchant's key must
not make the workers reach into the network they run in (a metadata service, Redis, an
internal admin page).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from checkout.webhook_signature import HEADER, sign
from checkout.webhook_targets import private_target
from schemas.merchant_events import MerchantEvent


class DeliveryFailed(Exception):
    """The receiver did not take the event (the message is a short code, never its body)."""


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def body_of(event: MerchantEvent) -> bytes:
    return json.dumps(event.model_dump(mode="json"), separators=(",", ":")).encode()


def deliver(
    url: str, secret: str, event: MerchantEvent, timeout: float, *, allow_private: bool = False
) -> int:
    """POST the signed event; returns the receiver's status or raises ``DeliveryFailed``."""
    if not allow_private and private_target(url) is not None:
        raise DeliveryFailed("private_address")
    body = body_of(event)
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "Kassa-Webhooks/1",
            HEADER: sign(secret, body),
            "Kassa-Event-Id": event.id,
        },
    )
    try:
        # The opener's HTTPErrorProcessor raises HTTPError for every status outside 2xx
        # (a 3xx too, since _NoRedirects follows none): what returns here is a delivery.
        with _OPENER.open(request, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        raise DeliveryFailed(f"http_{exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise DeliveryFailed(f"unreachable_{type(exc).__name__}") from None

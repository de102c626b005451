"""Where merchant webhooks may go: not into the network Kassa runs in.

A merchant's API key can register any URL as a webhook endpoint, and the workers POST to
it. Without a check, that is a way to reach a cloud metadata service, Redis or an
internal admin page from inside. So an endpoint whose host resolves to a non-public
address is refused when it is registered and again at every delivery, unless
``KASSA_WEBHOOK_ALLOW_PRIVATE`` is set (development and tests, whose receivers listen on
127.0.0.1).
"""

from __future__ import annotations

import ipaddress
import socket
import urllib.parse


def private_target(url: str) -> str | None:
    """The reason ``url`` must not be delivered to (None if its host is public): any address
    the host resolves to is loopback, private, link-local, multicast, reserved or
    unspecified. A host that does not resolve now is not refused here (delivery fails
    later, and is retried). The name is resolved again by the connection itself, so a
    name that changes its answer in between is not caught; an operator who needs that
    closed puts the workers behind an egress proxy."""
    parts = urllib.parse.urlsplit(url)
    try:
        infos = socket.getaddrinfo(parts.hostname or "", parts.port or 443, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError):
        return None
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if not address.is_global or address.is_multicast:
            return f"{parts.hostname} resolves to a non-public address"
    return None

"""Helpers for the emulator's integration tests: real HTTP only, no mocks."""

from __future__ import annotations

import http.client
import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlencode, urlsplit

import stripe

from devstack.processes import wait_for
from stripe_emulator import EmulatorServer

# Small delays keep webhook retry tests fast.
RETRY_DELAYS = (0.05, 0.1, 0.2, 0.4)


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode()


def raw_request(
    method: str,
    url: str,
    *,
    json_body: Any = None,
    form: dict[str, str] | list[tuple[str, str]] | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10,
) -> RawResponse:
    """One HTTP request that follows no redirects."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    all_headers = dict(headers or {})
    body: bytes | None = None
    if json_body is not None:
        body = json.dumps(json_body).encode()
        all_headers["Content-Type"] = "application/json"
    elif form is not None:
        body = urlencode(form).encode()
        all_headers["Content-Type"] = "application/x-www-form-urlencoded"
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request(method, target, body=body, headers=all_headers)
        response = connection.getresponse()
        return RawResponse(
            response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        )
    finally:
        connection.close()


class Emulator:
    """A running emulator with the few verbs tests need, reading like a user's story."""

    def __init__(self, server: EmulatorServer) -> None:
        self.server = server
        self.url = server.url

    def client(self, api_key: str = "sk_test_kassa", retries: int = 0, **kwargs: Any) -> Any:
        return stripe.StripeClient(
            api_key, base_addresses={"api": self.url}, max_network_retries=retries, **kwargs
        )

    def control(self, method: str, path: str, body: Any = None) -> RawResponse:
        return raw_request(method, f"{self.url}/_emulator{path}", json_body=body)

    def reset(self) -> None:
        assert self.control("POST", "/reset", {}).status == 200

    def state(self) -> dict[str, Any]:
        result: dict[str, Any] = self.control("GET", "/state").json()
        return result

    def count(self, api_key: str, kind: str) -> int:
        return int(self.state()["accounts"].get(api_key, {}).get(kind, 0))

    def complete(self, session_id: str, outcome: str = "paid", **extra: Any) -> RawResponse:
        return self.control(
            "POST", f"/checkout/sessions/{session_id}/complete", {"outcome": outcome, **extra}
        )

    def settle_async(self, session_id: str, result: str) -> RawResponse:
        return self.control("POST", f"/checkout/sessions/{session_id}/async", {"result": result})

    def advance_clock(self, seconds: int) -> int:
        response = self.control("POST", "/clock/advance", {"seconds": seconds})
        assert response.status == 200, response.text
        return int(response.json()["now"])

    def now(self) -> int:
        return int(self.control("GET", "/clock").json()["now"])

    def inject(self, **fault: Any) -> None:
        response = self.control("POST", "/faults", fault)
        assert response.status == 200, response.text

    def webhook_mode(self, **mode: Any) -> None:
        response = self.control("POST", "/webhooks/mode", mode)
        assert response.status == 200, response.text

    def pending_faults(self) -> list[dict[str, Any]]:
        """Injected faults no request has taken yet."""
        result: list[dict[str, Any]] = self.control("GET", "/faults").json()["faults"]
        return result

    def deliveries(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.control("GET", "/webhooks/deliveries").json()
        return result


def session_params(**overrides: Any) -> dict[str, Any]:
    """What Kassa sends to create a Checkout Session, with test values."""
    params: dict[str, Any] = {
        "mode": "payment",
        "success_url": "http://shop.test/checkout/success?session_id={CHECKOUT_SESSION_ID}",
        "cancel_url": "http://shop.test/cart",
        "line_items": [
            {
                "price_data": {
                    "currency": "eur",
                    "unit_amount": 1250,
                    "product_data": {"name": "Tea towel"},
                },
                "quantity": 2,
            },
            {
                "price_data": {
                    "currency": "eur",
                    "unit_amount": 499,
                    "product_data": {"name": "Mug"},
                },
                "quantity": 1,
            },
        ],
        "metadata": {"shop_id": "demo", "checkout_id": "chk_1"},
        "client_reference_id": "chk_1",
    }
    params.update(overrides)
    return params


@dataclass
class ReceivedWebhook:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.body)
        return result


class WebhookReceiver:
    """A tiny HTTP endpoint that records raw webhook bodies and headers.

    `fail_next(n)` makes it answer 500 to the next n requests, as a broken shop would.
    """

    def __init__(self) -> None:
        self.received: list[ReceivedWebhook] = []
        self._failures_left = 0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                with receiver._lock:
                    receiver.received.append(
                        ReceivedWebhook(self.path, {k: v for k, v in self.headers.items()}, body)
                    )
                    failing = receiver._failures_left > 0
                    receiver._failures_left -= 1 if failing else 0
                self.send_response(500 if failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/webhooks/stripe/demo"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def fail_next(self, count: int) -> None:
        with self._lock:
            self._failures_left = count

    def events(self, event_type: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            events = [hook.event for hook in self.received]
        return [e for e in events if event_type is None or e["type"] == event_type]

    def hooks(self, event_type: str | None = None) -> list[ReceivedWebhook]:
        with self._lock:
            hooks = list(self.received)
        return [h for h in hooks if event_type is None or h.event["type"] == event_type]

    def wait_for(
        self, event_type: str, count: int = 1, timeout: float = 5.0
    ) -> list[ReceivedWebhook]:
        return wait_for(
            lambda: (hooks := self.hooks(event_type)) and len(hooks) >= count and hooks,
            timeout=timeout,
        )

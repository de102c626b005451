"""Running the emulator: an in-process server for tests, and `serve()` for the CLI.

`EmulatorServer` binds (port 0 picks a free one), serves the WSGI app from a daemon
thread with werkzeug's threaded server, and runs the webhook delivery thread.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Sequence
from types import FrameType, TracebackType
from urllib.parse import urlsplit

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from stripe_emulator import defaults
from stripe_emulator.app import create_app
from stripe_emulator.latency import Latency, parse_range
from stripe_emulator.state import EmulatorState
from stripe_emulator.webhooks import DeliveryPolicy, WebhookDispatcher

logger = logging.getLogger(__name__)


class _RequestHandler(WSGIRequestHandler):
    """Logs method, path and status only: query strings may carry customer emails."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        logger.debug("%s %s %s", self.command, urlsplit(self.path).path, code)

    def log_error(self, format: str, *args: object) -> None:
        logger.debug("HTTP protocol error from %s", self.address_string())


class EmulatorServer:
    def __init__(
        self,
        host: str = defaults.DEFAULT_HOST,
        port: int = 0,
        *,
        webhook_retry_delays: Sequence[float] | None = None,
        webhook_timeout: float = defaults.WEBHOOK_TIMEOUT_SECONDS,
        webhook_max_attempts: int | None = None,
        latency_ms: int | tuple[int, int] | None = None,
        auto_accounts: bool | None = None,
        public_url: str | None = None,
    ) -> None:
        """Arguments left as None fall back to the STRIPE_EMULATOR_* environment variables.

        `latency_ms` delays every /v1 call: a fixed 250, or (200, 300) for jitter.
        `auto_accounts=False` refuses keys never registered through /_emulator/accounts.
        `public_url` is where browsers reach the emulator (hosted payment pages' URLs), when
        API clients call it by another address (a container's name).
        """
        self.host = host
        self.port = port
        policy = DeliveryPolicy.build(webhook_retry_delays, webhook_max_attempts, webhook_timeout)
        self.dispatcher = WebhookDispatcher(policy)
        self.state = EmulatorState(
            self.dispatcher,
            auto_accounts=_auto_accounts(auto_accounts),
            latency=Latency(_latency_range(latency_ms)),
            public_url=_public_url(public_url),
        )
        self.app = create_app(self.state)
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the emulator is not running; call start() first")
        host = self.host if self.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
        return f"http://{host}:{self._server.server_port}"

    def start(self) -> None:
        if self._server is not None:
            return
        self.state.stopping.clear()
        self._server = make_server(
            self.host, self.port, self.app, threaded=True, request_handler=_RequestHandler
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="stripe-emulator-http",
            daemon=True,
        )
        self._thread.start()
        self.dispatcher.start()
        logger.debug("Stripe emulator listening on %s", self.url)

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self.state.stopping.set()
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self.dispatcher.stop()

    def __enter__(self) -> EmulatorServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def _latency_range(latency_ms: int | tuple[int, int] | None) -> tuple[int, int]:
    if latency_ms is None:
        return parse_range(os.environ.get(defaults.ENV_LATENCY_MS, ""))
    if isinstance(latency_ms, int):
        return (latency_ms, latency_ms)
    return latency_ms


def _auto_accounts(auto_accounts: bool | None) -> bool:
    if auto_accounts is not None:
        return auto_accounts
    value = (os.environ.get(defaults.ENV_AUTO_ACCOUNTS) or "1").strip().lower()
    if value not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
        raise ValueError(f"{defaults.ENV_AUTO_ACCOUNTS} must be 1 or 0; got {value!r}")
    return value in ("1", "true", "yes", "on")


PUBLIC_URL_HELP = (
    "where browsers reach the emulator, e.g. http://localhost:12111, used for the hosted"
    f" payment pages' URLs (default: ${defaults.ENV_PUBLIC_URL}, else the address each API"
    " call came to)"
)


def _public_url(public_url: str | None) -> str | None:
    value = (public_url or os.environ.get(defaults.ENV_PUBLIC_URL) or "").strip()
    if not value:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
        raise ValueError(
            f"the emulator's public URL ({defaults.ENV_PUBLIC_URL}, --public-url) must be"
            f" http(s)://host[:port][/path]; got {value!r}"
        )
    return value.rstrip("/")


def serve(
    host: str = defaults.DEFAULT_HOST,
    port: int = defaults.DEFAULT_PORT,
    public_url: str | None = None,
) -> None:
    """Run until SIGTERM or SIGINT (`kassa emulator`, `python -m stripe_emulator`)."""
    timeout = float(os.environ.get(defaults.ENV_WEBHOOK_TIMEOUT, defaults.WEBHOOK_TIMEOUT_SECONDS))
    server = EmulatorServer(host, port, webhook_timeout=timeout, public_url=public_url)
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        server.start()
        shown = server.state.public_url
        print(
            f"Stripe emulator listening on {server.url} (test mode only)"
            + (f"; payment pages at {shown}" if shown else ""),
            flush=True,
        )
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)

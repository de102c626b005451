"""The path every Stripe API request takes: latency, faults, auth, idempotency, the endpoint.

Order matters and mirrors Stripe: the configured latency is waited out first, outside
any lock; injected faults, authentication and the API version check come next and
store nothing; then the idempotency layer claims the key; then the endpoint runs
under the state lock and its response (errors included) is stored for replay.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Response, g, request

from stripe_emulator import defaults, expand
from stripe_emulator.errors import (
    InvalidParams,
    StripeError,
    idempotency_key_too_long,
    injected,
    internal_error,
    invalid_api_version,
    malformed_api_key,
    no_api_key,
)
from stripe_emulator.events import EventRecorder, RequestContext
from stripe_emulator.forms import decode
from stripe_emulator.idempotency import StoredResponse
from stripe_emulator.ids import new_id
from stripe_emulator.models import Account
from stripe_emulator.objects import JSON
from stripe_emulator.params import ParamReader
from stripe_emulator.state import EmulatorState

logger = logging.getLogger(__name__)

TEST_KEY = re.compile(r"sk_test_[A-Za-z0-9_]+")


@dataclass(frozen=True)
class ApiCall:
    """What an endpoint handler gets: its account, its parameters, where to record events."""

    account: Account
    params: ParamReader
    events: EventRecorder
    base_url: str
    """Where the hosted pages are reached: the public URL if set, else this call's host."""

    @property
    def now(self) -> int:
        return self.events.now


Handler = Callable[..., JSON]


def json_response(status: int, body: str, headers: dict[str, str] | None = None) -> Response:
    return Response(body, status=status, mimetype="application/json", headers=headers)


def error_response(error: StripeError) -> Response:
    headers = {"WWW-Authenticate": 'Bearer realm="Stripe"'} if error.status == 401 else None
    return json_response(error.status, dump(error.body()), headers)


def dump(body: Any) -> str:
    return json.dumps(body, indent=2) + "\n"


def begin_request(state: EmulatorState) -> Response | None:
    """Flask `before_request`: request id, latency, faults, authentication and version."""
    g.request_id = new_id("req")
    if request.path.startswith("/_emulator/"):
        return None
    api = request.path.startswith("/v1/")
    if api:
        state.latency.wait(state.stopping)
    with state.lock:
        fault = state.faults.take(request.method, request.path)
    if fault is not None:
        logger.info("fault injected on %s %s: %s", request.method, request.path, fault.as_json())
        if fault.status is not None:
            return error_response(injected(fault.status))
        if fault.hang_seconds is not None:
            state.stopping.wait(fault.hang_seconds)
        g.slow_seconds = fault.slow_seconds
    if api:
        try:
            g.api_key = _authenticate(state)
            g.api_version = _api_version()
        except StripeError as exc:
            return error_response(exc)
    return None


def finish_response(response: Response) -> Response:
    """Flask `after_request`: the headers every Stripe response carries."""
    response.headers["Request-Id"] = g.get("request_id") or new_id("req")
    key = request.headers.get("Idempotency-Key")
    if key:
        response.headers["Idempotency-Key"] = key
    if request.path.startswith("/v1/"):
        response.headers["Stripe-Version"] = g.get("api_version") or defaults.API_VERSION
        response.headers["Cache-Control"] = "no-cache, no-store"
    return response


def api_view(
    state: EmulatorState, handler: Handler, *, returns: str, item: str | None = None
) -> Callable[..., Response]:
    """Wrap a handler into a Flask view; `returns`/`item` name the object for `expand`."""

    def view(**path_args: str) -> Response:
        try:
            return _run(state, handler, path_args, returns, item)
        except StripeError as exc:
            return error_response(exc)

    view.__name__ = f"api_{handler.__name__}"
    return view


def _run(
    state: EmulatorState,
    handler: Handler,
    path_args: dict[str, str],
    returns: str,
    item: str | None,
) -> Response:
    pairs = list(request.args.items(multi=True))
    if request.method == "POST":
        pairs += list(request.form.items(multi=True))
    params = decode(pairs)
    expansions = ParamReader(params).strings("expand") or []
    expand.validate(expansions, returns, item)

    key = request.headers.get("Idempotency-Key") if request.method == "POST" else None
    if not key:
        _run_slowly(state)
        status, body = _execute(state, handler, path_args, params, expansions, None)
        return json_response(status, body)
    if len(key) > defaults.IDEMPOTENCY_KEY_MAX_LENGTH:
        raise idempotency_key_too_long(len(key), defaults.IDEMPOTENCY_KEY_MAX_LENGTH)

    fingerprint = json.dumps(params, sort_keys=True)
    with state.lock:
        outcome = state.idempotency.begin(
            g.api_key, key, request.method, request.path, fingerprint, state.clock.now()
        )
    if isinstance(outcome, StoredResponse):
        return json_response(
            outcome.status,
            outcome.body,
            {"Idempotent-Replayed": "true", "Original-Request": outcome.request_id},
        )
    try:
        _run_slowly(state)
        status, body = _execute(state, handler, path_args, params, expansions, key)
    except InvalidParams:
        with state.lock:
            state.idempotency.abandon(outcome)
        raise
    with state.lock:
        state.idempotency.finish(outcome, StoredResponse(status, body, g.request_id))
    return json_response(status, body, {"Original-Request": g.request_id})


def _execute(
    state: EmulatorState,
    handler: Handler,
    path_args: dict[str, str],
    params: dict[str, Any],
    expansions: list[str],
    key: str | None,
) -> tuple[int, str]:
    with state.lock:
        state.sweep()
        account = state.account(g.api_key)
        recorder = state.recorder(account, RequestContext(g.request_id, key))
        base_url = state.public_url or request.host_url
        call = ApiCall(account, ParamReader(params), recorder, base_url)
        try:
            body = expand.apply(handler(call, **path_args), expansions, account)
        except InvalidParams:
            _forget(recorder)
            raise
        except StripeError as exc:
            _forget(recorder)
            return exc.status, dump(exc.body())
        except Exception:
            _forget(recorder)
            logger.exception("unhandled error in %s (request %s)", request.path, g.request_id)
            error = internal_error()
            return error.status, dump(error.body())
        state.publish(recorder)
        return 200, dump(body)


def _run_slowly(state: EmulatorState) -> None:
    """A `slow_seconds` fault: the endpoint takes this long, holding its idempotency key."""
    if g.get("slow_seconds"):
        state.stopping.wait(g.slow_seconds)


def _forget(recorder: EventRecorder) -> None:
    for event in recorder.events:
        recorder.account.events.pop(event.id, None)


def _authenticate(state: EmulatorState) -> str:
    """The secret key, sent as Bearer or, as `curl -u sk_test_...:` does, as Basic auth."""
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    credentials = credentials.strip()
    if scheme.lower() == "bearer":
        key = credentials
    elif scheme.lower() == "basic":
        try:
            user_and_password = base64.b64decode(credentials, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise no_api_key() from None
        # The key is the user name; Stripe ignores the password, usually empty.
        key = user_and_password.partition(":")[0]
    else:
        raise no_api_key()
    if not key:
        raise no_api_key()
    if not TEST_KEY.fullmatch(key):
        raise malformed_api_key(key)
    with state.lock:
        state.account(key)
    return key


def _api_version() -> str:
    """A `Stripe-Version` the emulator does not serve is refused, as Stripe refuses one it
    never released; without the header, the account default applies."""
    version = request.headers.get("Stripe-Version")
    if not version:
        return defaults.API_VERSION
    if version not in defaults.API_VERSIONS:
        raise invalid_api_version(version)
    return version

"""Test controls under /_emulator/: drive what a customer, time or the network would do.

JSON in, JSON out, no authentication. Request bodies are validated with pydantic;
errors come back as `{"error": {"type", "code", "message"}}` with status 400 or 404.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from flask import Blueprint, Response, jsonify, request
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from stripe_emulator import checkout, objects
from stripe_emulator.errors import StripeError
from stripe_emulator.faults import Fault
from stripe_emulator.latency import check_range
from stripe_emulator.models import Payer, empty_address
from stripe_emulator.pipeline import TEST_KEY
from stripe_emulator.state import EmulatorState
from stripe_emulator.webhooks import DeliveryMode


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CustomerInput(_Body):
    email: str | None = None
    name: str | None = None
    phone: str | None = None
    address: dict[str, str | None] | None = None


class CompleteSession(_Body):
    outcome: Literal["paid", "async_pending", "declined"] = "paid"
    customer: CustomerInput | None = None


class SettleAsync(_Body):
    result: Literal["succeeded", "failed"]


class AdvanceClock(_Body):
    seconds: int = Field(ge=0)


class FaultInput(_Body):
    method: str = "*"
    path_prefix: str = "/v1/"
    status: int | None = Field(default=None, ge=400, le=599)
    hang_seconds: float | None = Field(default=None, gt=0, le=600)
    slow_seconds: float | None = Field(default=None, gt=0, le=600)
    count: int = Field(default=1, ge=1)

    @model_validator(mode="after")
    def _one_kind(self) -> FaultInput:
        kinds = [self.status, self.hang_seconds, self.slow_seconds]
        if sum(kind is not None for kind in kinds) != 1:
            raise ValueError("give exactly one of status, hang_seconds, slow_seconds")
        return self


class WebhookModeInput(_Body):
    duplicate: int = Field(default=1, ge=1, le=100)
    shuffle: bool = False
    delay_ms: tuple[int, int] = (0, 0)

    @model_validator(mode="after")
    def _ordered(self) -> WebhookModeInput:
        low, high = self.delay_ms
        if low < 0 or high < low:
            raise ValueError("delay_ms must be [min, max] with 0 <= min <= max")
        return self


class LatencyInput(_Body):
    """`{"ms": 250}` for a fixed delay, `{"min_ms": 200, "max_ms": 300}` for jitter."""

    ms: int | None = None
    min_ms: int | None = None
    max_ms: int | None = None

    @model_validator(mode="after")
    def _one_form(self) -> LatencyInput:
        fixed = self.ms is not None and self.min_ms is None and self.max_ms is None
        ranged = self.ms is None and self.min_ms is not None and self.max_ms is not None
        if not (fixed or ranged):
            raise ValueError("give either ms, or min_ms and max_ms")
        check_range(*self.bounds())
        return self

    def bounds(self) -> tuple[int, int]:
        if self.ms is not None:
            return (self.ms, self.ms)
        assert self.min_ms is not None and self.max_ms is not None
        return (self.min_ms, self.max_ms)


class AccountInput(_Body):
    api_key: str = Field(pattern=f"^{TEST_KEY.pattern}$")


class AutoAccountsInput(_Body):
    enabled: bool


def build_controls(state: EmulatorState) -> Blueprint:
    controls = Blueprint("emulator_controls", __name__, url_prefix="/_emulator")

    @controls.post("/checkout/sessions/<session_id>/complete")
    def complete_session(session_id: str) -> Response:
        body = _parse(CompleteSession)
        with state.lock:
            state.sweep()
            account, session = state.find_session(session_id)
            payer = checkout.default_payer(account, session)
            if body.customer is not None:
                payer = _merge_payer(payer, body.customer)
            recorder = state.recorder(account)
            checkout.complete(account, session, body.outcome, payer, recorder)
            state.publish(recorder)
            return jsonify(objects.session_json(session))

    @controls.post("/checkout/sessions/<session_id>/async")
    def settle_async(session_id: str) -> Response:
        body = _parse(SettleAsync)
        with state.lock:
            state.sweep()
            account, session = state.find_session(session_id)
            recorder = state.recorder(account)
            checkout.settle_async(account, session, body.result, recorder)
            state.publish(recorder)
            return jsonify(objects.session_json(session))

    @controls.get("/clock")
    def clock() -> Response:
        with state.lock:
            return jsonify({"now": state.clock.now()})

    @controls.post("/clock/advance")
    def advance_clock() -> Response:
        body = _parse(AdvanceClock)
        with state.lock:
            return jsonify({"now": state.advance_clock(body.seconds)})

    @controls.get("/faults")
    def list_faults() -> Response:
        with state.lock:
            return jsonify({"faults": state.faults.pending()})

    @controls.post("/faults")
    def add_fault() -> Response:
        body = _parse(FaultInput)
        with state.lock:
            state.faults.add(Fault(**{**body.model_dump(), "method": body.method.upper()}))
            return jsonify({"faults": state.faults.pending()})

    @controls.delete("/faults")
    def clear_faults() -> Response:
        with state.lock:
            state.faults.clear()
            return jsonify({"faults": []})

    @controls.get("/latency")
    def latency() -> Response:
        return jsonify(state.latency.as_json())

    @controls.post("/latency")
    def set_latency() -> Response:
        body = _parse(LatencyInput)
        state.latency.set(*body.bounds())
        return jsonify(state.latency.as_json())

    @controls.get("/accounts")
    def accounts() -> Response:
        with state.lock:
            return jsonify(state.accounts_json())

    @controls.post("/accounts")
    def register_account() -> Response:
        body = _parse(AccountInput)
        with state.lock:
            state.register(body.api_key)
            return jsonify(state.accounts_json())

    @controls.post("/accounts/auto_create")
    def auto_create_accounts() -> Response:
        body = _parse(AutoAccountsInput)
        with state.lock:
            state.auto_accounts = body.enabled
            return jsonify(state.accounts_json())

    @controls.get("/webhooks/mode")
    def webhook_mode() -> Response:
        return jsonify(state.webhooks.mode.as_json())

    @controls.post("/webhooks/mode")
    def set_webhook_mode() -> Response:
        body = _parse(WebhookModeInput)
        state.webhooks.set_mode(DeliveryMode(body.duplicate, body.shuffle, body.delay_ms))
        return jsonify(state.webhooks.mode.as_json())

    @controls.get("/webhooks/deliveries")
    def webhook_deliveries() -> Response:
        return jsonify(state.webhooks.deliveries())

    @controls.get("/state")
    def counts() -> Response:
        with state.lock:
            return jsonify(state.counts())

    @controls.post("/reset")
    def reset() -> Response:
        with state.lock:
            state.reset()
            return jsonify(state.counts())

    @controls.errorhandler(StripeError)
    def stripe_error(error: StripeError) -> tuple[Response, int]:
        return jsonify(error.body()), error.status

    return controls


Model = TypeVar("Model", bound=BaseModel)


class _BadBody(StripeError):
    def __init__(self, message: str) -> None:
        super().__init__(400, message, code="invalid_body")


def _parse(model: type[Model]) -> Model:
    raw: Any = request.get_json(silent=True) if request.get_data() else {}
    if raw is None:
        raise _BadBody("The request body must be a JSON object.")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}"
            for err in exc.errors()
        )
        raise _BadBody(problems) from None


def _merge_payer(payer: Payer, given: CustomerInput) -> Payer:
    address = empty_address()
    source = payer.address if given.address is None else given.address
    address.update({key: value for key, value in source.items() if key in address})
    return Payer(
        email=given.email or payer.email,
        name=given.name or payer.name,
        address=address,
        phone=given.phone,
    )

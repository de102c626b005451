"""Errors as values in Stripe's shape; the only place that knows the error JSON.

The SDK picks its exception class from the HTTP status and the error `type`, so each
constructor below fixes both. `InvalidParams` marks failures found before an endpoint
starts executing: Stripe does not store those under an idempotency key.
"""

from __future__ import annotations

from typing import Any

from stripe_emulator import defaults


class StripeError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.extra = extra or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {}
        if self.code is not None:
            error["code"] = self.code
            error["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        error["message"] = self.message
        if self.param is not None:
            error["param"] = self.param
        error.update(self.extra)
        error["type"] = self.type
        return {"error": error}


class InvalidParams(StripeError):
    """A request rejected by parameter validation, before the endpoint ran."""

    def __init__(self, message: str, *, param: str | None, code: str | None = None) -> None:
        super().__init__(400, message, code=code, param=param)


def missing_param(param: str) -> InvalidParams:
    return InvalidParams(f"Missing required param: {param}.", param=param, code="parameter_missing")


def unknown_param(param: str) -> InvalidParams:
    return InvalidParams(
        f"Received unknown parameter: {param}", param=param, code="parameter_unknown"
    )


def unsupported_param(param: str) -> InvalidParams:
    return InvalidParams(
        f"The Stripe emulator does not support the parameter `{param}`.",
        param=param,
        code="parameter_unknown",
    )


def empty_param(param: str) -> InvalidParams:
    return InvalidParams(
        f"You passed an empty string for '{param}'. We assume empty values are an attempt to "
        f"unset a parameter; however '{param}' cannot be unset. You should remove '{param}' "
        "from your request or supply a non-empty value.",
        param=param,
        code="parameter_invalid_empty",
    )


def invalid_param(param: str | None, message: str, code: str | None = None) -> InvalidParams:
    return InvalidParams(message, param=param, code=code)


def resource_missing(object_name: str, object_id: str, *, param: str = "id") -> StripeError:
    """An unknown id: 404 when it is in the URL, 400 when it is a body parameter."""
    return StripeError(
        404 if param == "id" else 400,
        f"No such {object_name}: '{object_id}'",
        code="resource_missing",
        param=param,
    )


def unexpected_state(message: str, **extra: Any) -> StripeError:
    return StripeError(
        400, message, code="payment_intent_unexpected_state", param=None, extra=extra
    )


def unrecognized_url(method: str, path: str) -> StripeError:
    return StripeError(
        404,
        f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs "
        "or we can help at https://support.stripe.com/.",
    )


def no_api_key() -> StripeError:
    return StripeError(
        401,
        "You did not provide an API key. You need to provide your API key in the "
        "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
        "YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, "
        "or we can help at https://support.stripe.com/.",
    )


def invalid_api_key(key: str, hint: str) -> StripeError:
    """Stripe's 401 for a key it never issued, the key masked but for its prefix and end."""
    shown = key[:8] + "*" * max(0, len(key) - 12) + key[-4:] if len(key) > 12 else "****"
    return StripeError(401, f"Invalid API Key provided: {shown}. {hint}")


def malformed_api_key(key: str) -> StripeError:
    return invalid_api_key(
        key, "The Stripe emulator accepts test mode secret keys only (Bearer sk_test_...)."
    )


def unregistered_api_key(key: str) -> StripeError:
    return invalid_api_key(
        key,
        "This key was never registered with the Stripe emulator: register it with "
        "POST /_emulator/accounts, or turn on STRIPE_EMULATOR_AUTO_ACCOUNTS.",
    )


def invalid_api_version(version: str, param: str | None = None) -> StripeError:
    message = (
        f"Invalid Stripe API version: {version}. The Stripe emulator serves "
        f"{', '.join(defaults.API_VERSIONS)}."
    )
    return StripeError(400, message) if param is None else InvalidParams(message, param=param)


def idempotency_params_mismatch(key: str) -> StripeError:
    return StripeError(
        400,
        "Keys for idempotent requests can only be used with the same parameters they were "
        f"first used with. Try using a key other than '{key}' if you meant to execute a "
        "different request.",
        type="idempotency_error",
    )


def idempotency_endpoint_mismatch(key: str) -> StripeError:
    return StripeError(
        400,
        "Keys for idempotent requests can only be used for the same endpoint they were "
        f"first used for. Try using a key other than '{key}' if you meant to execute a "
        "different request.",
        type="idempotency_error",
    )


def idempotency_key_in_use(key: str) -> StripeError:
    return StripeError(
        409,
        "There is currently another in-progress request using this Idempotent Key (that "
        "probably means you submitted twice, and the other request is still going "
        f"through): {key}. Please try again later.",
        code="idempotency_key_in_use",
    )


def idempotency_key_too_long(length: int, limit: int) -> InvalidParams:
    return InvalidParams(
        f"Idempotency keys can be at most {limit} characters long, but this one is "
        f"{length} characters.",
        param=None,
    )


def injected(status: int) -> StripeError:
    """The body of a fault injected through /_emulator/faults."""
    if status == 429:
        return StripeError(
            429,
            "Request rate limit exceeded. Learn more about rate limits here "
            "https://stripe.com/docs/rate-limits.",
            code="rate_limit",
        )
    if status >= 500:
        return StripeError(
            status,
            "An unknown error occurred (injected by the Stripe emulator).",
            type="api_error",
        )
    if status == 402:
        return StripeError(402, "Your card was declined.", type="card_error", code="card_declined")
    return StripeError(status, f"Injected error with status {status}.")


def internal_error() -> StripeError:
    return StripeError(
        500,
        "An unknown error occurred. Please try again.",
        type="api_error",
    )

"""Sorting a job's failure: retry it (transient), bury it (permanent), and name it with a
short code that is safe to store and show to ops, never the exception's text (a Stripe
or SMTP error message may quote a customer's email address)."""

from __future__ import annotations

import re
import smtplib

import pydantic

from checkout.ports import PaymentProviderError


class PermanentJobError(Exception):
    """The job can never succeed as queued (unknown order, bad payload): dead at once."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class RetryLater(Exception):
    """Raised to RQ instead of the real error, so RQ's logs and Redis hold only the code."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


_SAFE_TOKEN = re.compile(r"[A-Za-z0-9_.-]{1,60}")


def is_permanent(exc: BaseException) -> bool:
    """Never worth retrying. Anything neither transient nor permanent (a bug, a surprise)
    is retried on RQ's schedule and ends dead after the last attempt."""
    if isinstance(exc, PaymentProviderError):
        return not exc.transient
    if isinstance(exc, smtplib.SMTPResponseException):
        return exc.smtp_code >= 500
    return isinstance(
        exc, PermanentJobError | pydantic.ValidationError | smtplib.SMTPRecipientsRefused
    )


def _token(value: object) -> str | None:
    text = str(value) if value is not None else ""
    return text if _SAFE_TOKEN.fullmatch(text) else None


def error_code(exc: BaseException) -> str:
    """A short, personal-data-free description: class names and provider codes only."""
    if isinstance(exc, PermanentJobError | RetryLater):
        return exc.code
    if isinstance(exc, PaymentProviderError):
        parts = ["stripe", _token(exc.args[0] if exc.args else None) or "error"]
        code = _token(exc.code)
        return ":".join([*parts, code] if code else parts)
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{type(exc).__name__}:{exc.smtp_code}"
    return type(exc).__name__

"""JSON log lines that can never carry a customer's personal data or a secret.

Redaction happens in a logging.Filter on the handler, so it covers every logger
(ours, Flask's, RQ's, the Stripe SDK's): by key for structured ``extra`` fields and
by pattern for anything that slipped into a message string.
"""

from __future__ import annotations

import contextvars
import logging
import re
import sys
import uuid
from typing import Any, TextIO

from pythonjsonlogger.json import JsonFormatter

REDACTED = "[redacted]"

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_id", default=None
)

SENSITIVE_KEYS = (
    "email",
    "name",
    "address",
    "phone",
    "card",
    "cvc",
    "iban",
    "password",
    "secret",
    "client_secret",
    "authorization",
    "cookie",
    "stripe-signature",
    "stripe_signature",
    "token",
    "api_key",
    "customer_details",
    "line1",
    "line2",
    "postal_code",
    "city",
    "ip_address",
    "client_ip",
    "remote_addr",
    "first_name",
    "last_name",
)
"""A key is sensitive if, lower-cased with '-' as '_', it contains one of these words."""

_SAFE_KEYS = frozenset({"process_name", "logger"})
"""Our own fields that merely contain a sensitive word."""

_PATTERNS = [
    re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"),  # email addresses
    re.compile(r"\b(?:sk|rk|pk)_(?:test|live)_[A-Za-z0-9]+"),  # Stripe API keys
    re.compile(r"\b(?:sk|rk)_[A-Za-z0-9]{8,}"),
    re.compile(r"\bwhsec_[A-Za-z0-9]+"),  # webhook secrets
    re.compile(r"\bkassa_sk_[A-Za-z0-9_-]+"),  # merchant API keys
    re.compile(r"\b\w+_secret_\w+"),  # client secrets (pi_..._secret_...)
    re.compile(r"\bt=\d+,v1=[0-9a-f]+\S*"),  # Stripe-Signature header values
    re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]+"),
    re.compile(r"\b(?:\d[ -]?){13,19}\b"),  # card-number-like digit runs
]


def _sensitive(key: str) -> bool:
    k = key.lower().replace("-", "_")
    if k in _SAFE_KEYS:
        return False
    return any(word.replace("-", "_") in k for word in SENSITIVE_KEYS)


def scrub_text(text: str) -> str:
    for pattern in _PATTERNS:
        text = pattern.sub(REDACTED, text)
    return text


def scrub(value: Any) -> Any:
    """Redact a value recursively: sensitive keys lose their values, strings lose patterns."""
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, dict):
        return {k: REDACTED if _sensitive(str(k)) else scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [scrub(v) for v in value]
    return value


_RECORD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None)))


class RedactionFilter(logging.Filter):
    """Rewrites the record in place: message rendered and scrubbed, extras scrubbed by key."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the line
            message = str(record.msg)
        record.msg, record.args = scrub_text(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub_text(record.exc_text)
        record.exc_info = None
        for key in list(vars(record)):
            if key in _RECORD_ATTRS or key in ("request_id", "message"):
                continue
            value = getattr(record, key)
            setattr(record, key, REDACTED if _sensitive(key) else scrub(value))
        return True


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


def new_request_id() -> str:
    return uuid.uuid4().hex


_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


def accept_request_id(header: str | None) -> str:
    """Use the caller's id if it is a plain token; otherwise make one (never echo junk)."""
    return header if header and _SAFE_REQUEST_ID.match(header) else new_request_id()


def configure_logging(
    level: str = "INFO", stream: TextIO | None = None, process: str | None = None
) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(RequestIdFilter())
    handler.addFilter(RedactionFilter())
    static = {"process_name": process} if process else {}
    handler.setFormatter(
        JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            rename_fields={"levelname": "level", "asctime": "time", "name": "logger"},
            static_fields=static,
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("werkzeug", "stripe", "urllib3"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))

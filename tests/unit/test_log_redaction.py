"""Canary values go into log calls every way a developer might pass them; none may come out."""

from __future__ import annotations

import io
import json
import logging

import pytest

from kassa.logs import accept_request_id, configure_logging, request_id_var

CANARIES = {
    "email": "canary.jane@example-shop.test",
    "customer_name": "Canary Janeson",
    "address": "42 Canary Wharf Lane",
    "phone": "+44 7700 900123",
    "card": "4242 4242 4242 4242",
    "client_secret": "pi_3Canary_secret_Canary123",
    "authorization": "Bearer canarytoken123",
    "cookie": "kassa_cart=canarycookie",
    "stripe-signature": "t=1700000000,v1=abcdef0123456789",
    "api_key": "sk_test_Canary123456",
    "restricted_key": "rk_live_Canary123456",
    "webhook_secret": "whsec_Canary123456",
}


@pytest.fixture
def log_output() -> io.StringIO:
    stream = io.StringIO()
    configure_logging("DEBUG", stream=stream)
    return stream


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.mark.parametrize("key", sorted(CANARIES))
def test_sensitive_keys_in_extra_are_redacted(log_output: io.StringIO, key: str) -> None:
    logging.getLogger("t").info(
        "event", extra={key.replace("-", "_"): CANARIES[key], "order_ref": "K-1"}
    )
    out = log_output.getvalue()
    assert CANARIES[key] not in out
    assert lines(log_output)[0]["order_ref"] == "K-1"  # identifiers survive


@pytest.mark.parametrize(
    "secret",
    [
        CANARIES["email"],
        CANARIES["client_secret"],
        CANARIES["api_key"],
        CANARIES["restricted_key"],
        CANARIES["webhook_secret"],
        CANARIES["stripe-signature"],
        CANARIES["authorization"],
        CANARIES["card"],
        "kassa_sk_0123456789abcdef_Canary-Merchant_Key_Secret0123456789abcdef",
    ],
)
def test_patterns_in_messages_and_args_are_redacted(log_output: io.StringIO, secret: str) -> None:
    log = logging.getLogger("t")
    log.warning("inline " + secret)
    log.warning("as arg %s", secret)
    log.warning("nested", extra={"payload": {"note": f"see {secret}", "list": [secret]}})
    assert secret not in log_output.getvalue()
    assert len(lines(log_output)) == 3


def test_nested_structures_are_redacted_by_key(log_output: io.StringIO) -> None:
    details = {
        "customer": {
            "email": "x",
            "name": CANARIES["customer_name"],
            "address": {"line1": CANARIES["address"]},
            "phone": CANARIES["phone"],
        }
    }
    logging.getLogger("t").info("nested", extra={"details": details})
    out = log_output.getvalue()
    for value in (CANARIES["customer_name"], CANARIES["address"], CANARIES["phone"]):
        assert value not in out


def test_exception_text_is_redacted(log_output: io.StringIO) -> None:
    try:
        raise ValueError(f"bad customer {CANARIES['email']}")
    except ValueError:
        logging.getLogger("t").exception("failed")
    assert CANARIES["email"] not in log_output.getvalue()
    assert "ValueError" in log_output.getvalue()


def test_lines_are_json_with_request_id(log_output: io.StringIO) -> None:
    token = request_id_var.set("req-123")
    try:
        logging.getLogger("t").info("hello")
    finally:
        request_id_var.reset(token)
    (line,) = lines(log_output)
    assert line["request_id"] == "req-123"
    assert line["message"] == "hello"
    assert line["level"] == "INFO"


def test_request_id_accepts_plain_tokens_only() -> None:
    assert accept_request_id("abc-123") == "abc-123"
    generated = accept_request_id("bad id\nwith newline")
    assert generated != "bad id\nwith newline" and len(generated) == 32
    assert len(accept_request_id(None)) == 32

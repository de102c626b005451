"""The merchant webhook signature: what a receiver accepts and what it must refuse."""

from __future__ import annotations

import json

import pytest

from checkout.webhook_signature import SignatureError, sign, verify

SECRET = "kwhsec_test"
BODY = json.dumps({"id": "evt_1", "type": "order.paid"}).encode()
NOW = 1_800_000_000


def test_a_signed_body_verifies() -> None:
    assert verify(BODY, sign(SECRET, BODY, NOW), SECRET, now=NOW)["id"] == "evt_1"


@pytest.mark.parametrize(
    "body, header, secret, why",
    [
        (BODY + b" ", sign(SECRET, BODY, NOW), SECRET, "mismatch"),
        (BODY, sign(SECRET, BODY, NOW), "kwhsec_other", "mismatch"),
        (BODY, sign(SECRET, BODY, NOW - 301), SECRET, "tolerance"),
        (BODY, sign(SECRET, BODY, NOW + 301), SECRET, "tolerance"),
        (BODY, None, SECRET, "missing"),
        (BODY, "v1=abc", SECRET, "malformed"),
        (BODY, f"t={NOW}", SECRET, "malformed"),
    ],
    ids=["tampered", "other-secret", "replayed", "future", "missing", "no-t", "no-v1"],
)
def test_what_a_receiver_refuses(body: bytes, header: str | None, secret: str, why: str) -> None:
    with pytest.raises(SignatureError, match=why):
        verify(body, header, secret, now=NOW)


def test_any_of_several_signatures_may_match_during_a_rotation() -> None:
    header = sign(SECRET, BODY, NOW) + ",v1=" + "0" * 64
    assert verify(BODY, header, SECRET, now=NOW)["type"] == "order.paid"

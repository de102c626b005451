"""The retry schedule, the job ids and the failure codes of outbox jobs."""

from __future__ import annotations

import random
import smtplib

import psycopg
import psycopg_pool
import pydantic
import pytest
import redis

from checkout.faults import is_transient
from checkout.ports import PaymentProviderError
from schemas.settings import Settings
from workers.failures import PermanentJobError, RetryLater, error_code, is_permanent
from workers.queue import job_id_for
from workers.retry import JITTER, MAX_RETRY_INTERVAL_SECONDS, retry_for, retry_intervals


def test_intervals_double_with_bounded_jitter() -> None:
    for seed in range(50):
        intervals = retry_intervals(2.0, 5, random.Random(seed))
        assert len(intervals) == 4
        for i, seconds in enumerate(intervals):
            base = 2.0 * 2**i
            assert base <= seconds <= base * (1 + JITTER) + 1
            assert isinstance(seconds, int)


def test_jitter_spreads_the_retries() -> None:
    firsts = {retry_intervals(10.0, 2, random.Random(seed))[0] for seed in range(50)}
    assert len(firsts) > 1


def test_intervals_are_whole_seconds_never_zero_and_capped() -> None:
    assert retry_intervals(0.2, 3) == [1, 1]
    assert retry_intervals(600.0, 8)[-1] == MAX_RETRY_INTERVAL_SECONDS
    assert retry_intervals(2.0, 1) == []


def test_rq_retry_gives_max_attempts_runs_in_all() -> None:
    retry = retry_for(Settings(KASSA_JOB_MAX_ATTEMPTS=5, KASSA_JOB_RETRY_BASE_SECONDS=2))
    assert retry is not None and retry.max == 4 and len(retry.intervals) == 4
    assert retry_for(Settings(KASSA_JOB_MAX_ATTEMPTS=1)) is None


def test_job_ids_are_dedupe_keys_or_their_hash() -> None:
    assert job_id_for("order-3f2a-stock") == "order-3f2a-stock"
    odd = job_id_for("order:3f2a/stock")
    assert odd.startswith("outbox-") and odd == job_id_for("order:3f2a/stock")
    assert job_id_for("x" * 500) != job_id_for("x" * 501)


@pytest.mark.parametrize(
    ("exc", "transient", "permanent"),
    [
        (PaymentProviderError("APIConnectionError", transient=True), True, False),
        (PaymentProviderError("CardError", transient=False, code="card_declined"), False, True),
        (redis.ConnectionError("down"), True, False),
        (ConnectionRefusedError(111, "refused"), True, False),
        (smtplib.SMTPResponseException(451, b"try later"), True, False),
        (smtplib.SMTPResponseException(550, b"no such user"), False, True),
        (smtplib.SMTPServerDisconnected("gone"), True, False),
        (smtplib.SMTPRecipientsRefused({"x@example.com": (550, b"no")}), False, True),
        (psycopg.OperationalError("server closed the connection"), True, False),
        (psycopg_pool.PoolTimeout("no connection"), True, False),
        (TimeoutError(), True, False),
        (PermanentJobError("order_not_found"), False, True),
        (RetryLater("stripe:APIConnectionError"), False, False),
        (KeyError("surprise"), False, False),
    ],
)
def test_failures_are_sorted(exc: Exception, transient: bool, permanent: bool) -> None:
    assert (is_transient(exc), is_permanent(exc)) == (transient, permanent)


def test_validation_errors_are_permanent() -> None:
    class M(pydantic.BaseModel):
        n: int

    with pytest.raises(pydantic.ValidationError) as info:
        M.model_validate({"n": "x"})
    assert is_permanent(info.value) and error_code(info.value) == "ValidationError"


def test_error_codes_carry_no_personal_data() -> None:
    leaky = PaymentProviderError(
        "No such customer: jane.doe@example.com", transient=False, code="resource_missing"
    )
    assert error_code(leaky) == "stripe:error:resource_missing"
    assert error_code(PaymentProviderError("InvalidRequestError", transient=False)) == (
        "stripe:InvalidRequestError"
    )
    smtp = smtplib.SMTPRecipientsRefused({"jane.doe@example.com": (550, b"unknown user")})
    assert error_code(smtp) == "SMTPRecipientsRefused"
    assert error_code(smtplib.SMTPResponseException(550, b"jane.doe@example.com")) == (
        "SMTPResponseException:550"
    )
    assert error_code(ValueError("jane.doe@example.com")) == "ValueError"
    assert error_code(RetryLater("stripe:APIError")) == "stripe:APIError"
    assert error_code(PermanentJobError("order_not_found")) == "order_not_found"
    odd_code = PaymentProviderError("CardError", transient=False, code="jane@example.com bad")
    assert error_code(odd_code) == "stripe:CardError"  # an unsafe provider code is dropped

"""Which failures are worth retrying: a connection blip or a provider's temporary fault.

Shared by the workers (retry a job soon) and fulfilment (answer 5xx so Stripe retries,
instead of settling the payment for good with a refund)."""

from __future__ import annotations

import smtplib

import psycopg
import psycopg_pool
import redis

from checkout.ports import PaymentProviderError

_BLIPS: tuple[type[BaseException], ...] = (
    psycopg.OperationalError,
    psycopg.InterfaceError,
    psycopg_pool.PoolTimeout,
    redis.ConnectionError,
    redis.TimeoutError,
    smtplib.SMTPServerDisconnected,
    smtplib.SMTPConnectError,
    ConnectionError,
    TimeoutError,
)


def is_transient(exc: BaseException) -> bool:
    """Worth retrying soon, in-process: a connection blip or a provider's temporary fault."""
    if isinstance(exc, PaymentProviderError):
        return exc.transient
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    return isinstance(exc, _BLIPS)

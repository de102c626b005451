"""Every knob Kassa reads from the environment, in one place, each with a local default.

A fresh clone must run with no configuration at all, so every default points at
something `kassa dev` starts itself; production overrides them by environment.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)

    database_url: str = Field(
        default="postgresql://postgres@127.0.0.1:5432/kassa", alias="DATABASE_URL"
    )
    redis_url: str = Field(default="redis://127.0.0.1:6379/0", alias="REDIS_URL")
    stripe_api_base: str = Field(default="http://127.0.0.1:12111", alias="STRIPE_API_BASE")
    stripe_api_key: str = Field(default="sk_test_kassa_demo", alias="KASSA_STRIPE_API_KEY")
    stripe_webhook_secret: str | None = Field(default=None, alias="KASSA_STRIPE_WEBHOOK_SECRET")
    secret_key: str = Field(default="dev-only-insecure-secret-key", alias="KASSA_SECRET_KEY")
    encryption_keys: str | None = Field(default=None, alias="KASSA_ENCRYPTION_KEYS")
    """Comma-separated Fernet keys for shop secrets at rest: the first encrypts, all decrypt.
    Unset, a key is derived from KASSA_SECRET_KEY (local development only)."""
    admin_token: str = Field(default="dev-admin-token", alias="KASSA_ADMIN_TOKEN")
    public_url: str = Field(default="http://127.0.0.1:8000", alias="KASSA_PUBLIC_URL")
    storefront_shop: str = Field(default="demo", alias="KASSA_STOREFRONT_SHOP")
    checkout_rate_limit: str = Field(default="10/minute", alias="KASSA_CHECKOUT_RATE_LIMIT")
    trusted_proxy_count: int = Field(default=0, ge=0, alias="KASSA_TRUSTED_PROXY_COUNT")
    log_level: str = Field(default="INFO", alias="KASSA_LOG_LEVEL")
    db_pool_timeout: float = Field(default=5.0, gt=0, alias="KASSA_DB_POOL_TIMEOUT")
    db_pool_max: int = Field(default=16, ge=1, alias="KASSA_DB_POOL_MAX")
    """A worker needs ``worker_threads`` connections for its effects, one per
    ``worker_jobs``, and three more (the reaper's, the reconciler's and retention's)."""
    shop_cache_seconds: float = Field(default=5.0, ge=0, alias="KASSA_SHOP_CACHE_SECONDS")
    """How long a process trusts a shop it read; its own changes it sees at once."""
    cart_ttl_seconds: int = Field(default=7 * 24 * 3600, ge=60, alias="KASSA_CART_TTL_SECONDS")
    smtp_host: str = Field(default="127.0.0.1", alias="KASSA_SMTP_HOST")
    smtp_port: int = Field(default=0, ge=0, alias="KASSA_SMTP_PORT")
    mail_from: str = Field(default="orders@kassa.local", alias="KASSA_MAIL_FROM")
    mailbox_dir: str = Field(default=".kassa/mailbox", alias="KASSA_MAILBOX_DIR")
    stripe_max_retries: int = Field(default=2, ge=0, alias="KASSA_STRIPE_MAX_RETRIES")
    stripe_timeout_seconds: float = Field(default=10.0, gt=0, alias="KASSA_STRIPE_TIMEOUT")
    relay_poll_seconds: float = Field(default=1.0, gt=0, alias="KASSA_RELAY_POLL_SECONDS")
    relay_requeue_after_seconds: int = Field(
        default=120, ge=1, alias="KASSA_RELAY_REQUEUE_AFTER_SECONDS"
    )
    relay_linger_seconds: float = Field(default=0.01, ge=0, alias="KASSA_RELAY_LINGER_SECONDS")
    """After a NOTIFY the relay waits this long before claiming, so that rows committed
    close together share one RQ job instead of paying RQ's per-job cost each."""
    outbox_group_size: int = Field(default=50, ge=1, alias="KASSA_OUTBOX_GROUP_SIZE")
    """Rows per RQ job for the kinds that only touch Redis (one transaction per job)."""
    worker_threads: int = Field(default=8, ge=1, alias="KASSA_WORKER_THREADS")
    """Threads a worker process performs I/O-bound effects with (Stripe, SMTP); also the
    most rows of such a kind in one RQ job."""
    worker_shop_concurrency: int = Field(default=4, ge=1, alias="KASSA_WORKER_SHOP_CONCURRENCY")
    """At most this many effects of one shop run at once in a worker process."""
    worker_jobs: int = Field(default=4, ge=1, alias="KASSA_WORKER_JOBS")
    """RQ jobs a worker process runs at once (an RQ worker per thread, sharing the effect
    threads and the per-shop bound), so a job waiting on a slow Stripe does not hold the
    whole process."""
    job_max_attempts: int = Field(default=5, ge=1, alias="KASSA_JOB_MAX_ATTEMPTS")
    job_retry_base_seconds: float = Field(default=2.0, gt=0, alias="KASSA_JOB_RETRY_BASE_SECONDS")
    reaper_interval_seconds: float = Field(default=30.0, gt=0, alias="KASSA_REAPER_INTERVAL")
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, alias="KASSA_WEBHOOK_TIMEOUT")
    webhook_allow_private: bool = Field(default=False, alias="KASSA_WEBHOOK_ALLOW_PRIVATE")
    """Deliver merchant webhooks to loopback, private and link-local addresses too. Off,
    so that a merchant key cannot make the workers POST to the network they run in; on
    for development and tests, whose receivers listen on 127.0.0.1."""
    reconcile_interval_seconds: float = Field(default=60.0, gt=0, alias="KASSA_RECONCILE_INTERVAL")
    # Relay and worker serve /metrics on these ports (0: not at all); the web serves it on
    # its own port. Containers set KASSA_METRICS_HOST=0.0.0.0 so Prometheus can scrape them.
    metrics_host: str = Field(default="127.0.0.1", alias="KASSA_METRICS_HOST")
    relay_metrics_port: int = Field(default=9101, ge=0, le=65535, alias="KASSA_RELAY_METRICS_PORT")
    worker_metrics_port: int = Field(
        default=9102, ge=0, le=65535, alias="KASSA_WORKER_METRICS_PORT"
    )
    # Retention: the worker deletes done outbox rows, processed Stripe events and expired
    # checkouts (no order, no active hold) older than this, in small batches.
    retention_days: float = Field(default=30.0, ge=14, alias="KASSA_RETENTION_DAYS")
    retention_interval_seconds: float = Field(default=600.0, gt=0, alias="KASSA_RETENTION_INTERVAL")
    retention_batch_size: int = Field(default=500, ge=1, le=10_000, alias="KASSA_RETENTION_BATCH")

"""The rate limits' counting (web/limits.py): shared by every web process through Redis,
and kept per process while Redis cannot be reached."""

from __future__ import annotations

import uuid

from devstack.processes import free_port
from schemas.settings import Settings
from web.limits import RateLimits


def test_processes_share_one_count_in_redis(settings: Settings) -> None:
    first, second = RateLimits(settings.redis_url), RateLimits(settings.redis_url)
    key = uuid.uuid4().hex
    assert first.hit("3/minute", "view", key) is None
    assert second.hit("3/minute", "view", key) is None
    assert first.hit("3/minute", "view", key) is None
    retry_after = second.hit("3/minute", "view", key)
    assert retry_after is not None and 1 <= retry_after <= 60
    assert first.hit("3/minute", "view", "another client") is None


def test_without_redis_each_process_still_counts() -> None:
    limits = RateLimits(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    assert limits.hit("2/minute", "view", "client") is None
    assert limits.hit("2/minute", "view", "client") is None
    assert limits.hit("2/minute", "view", "client") is not None

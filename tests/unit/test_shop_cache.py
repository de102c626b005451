"""The per-process shop cache: trusted for its TTL, forgotten on a local change."""

from __future__ import annotations

from checkout.shop_cache import ShopCache
from schemas.records import Shop


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def shop(name: str) -> Shop:
    return Shop(
        id="demo",
        name=name,
        currency="usd",
        storefront_url="https://shop.example.test",
        hold_ttl_seconds=900,
        capture_mode="immediate",
        capture_window_seconds=3600,
        checkout_rate_limit=None,
        stripe_api_key="sk_test_x",
        stripe_webhook_secret=None,
    )


def name(found: Shop | None) -> str | None:
    return found.name if found is not None else None


def test_a_shop_is_read_once_within_its_ttl_and_again_after() -> None:
    clock, loads = Clock(), []
    cache = ShopCache(5.0, clock)

    def load() -> Shop:
        loads.append(1)
        return shop(f"v{len(loads)}")

    assert name(cache.get("demo", load)) == "v1"
    clock.now += 4.9
    assert name(cache.get("demo", load)) == "v1"
    clock.now += 0.2
    assert name(cache.get("demo", load)) == "v2"
    assert len(loads) == 2


def test_forget_drops_a_shop_and_unknown_shops_are_never_kept() -> None:
    cache = ShopCache(60.0, Clock())
    assert cache.get("demo", lambda: None) is None
    assert name(cache.get("demo", lambda: shop("found"))) == "found"
    assert name(cache.get("demo", lambda: shop("ignored"))) == "found"
    cache.forget(["demo"])
    assert name(cache.get("demo", lambda: shop("new"))) == "new"


def test_a_ttl_of_zero_caches_nothing() -> None:
    cache = ShopCache(0, Clock())
    cache.get("demo", lambda: shop("a"))
    assert name(cache.get("demo", lambda: shop("b"))) == "b"

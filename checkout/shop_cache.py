"""The per-process shop cache (see ``checkout.shops``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable

from schemas.records import Shop


class ShopCache:
    """Shops by id for ``ttl`` seconds (0: no caching). Only shops that exist are kept, so
    a shop created elsewhere is found at its first request."""

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl, self._clock = ttl, clock
        self._shops: dict[str, tuple[float, Shop]] = {}
        self._lock = threading.Lock()

    def get(self, shop_id: str, load: Callable[[], Shop | None]) -> Shop | None:
        now = self._clock()
        with self._lock:
            cached = self._shops.get(shop_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        shop = load()
        if shop is not None and self._ttl > 0:
            with self._lock:
                self._shops[shop_id] = (now + self._ttl, shop)
        return shop

    def forget(self, shop_ids: Iterable[str]) -> None:
        with self._lock:
            for shop_id in shop_ids:
                self._shops.pop(shop_id, None)

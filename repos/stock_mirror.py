"""The Redis stock mirror: a fast, disposable copy of on-hand units per SKU.

Postgres stays the truth; the mirror is applied once per dedupe key (a Lua script
makes check-and-apply atomic) and reconciliation rebuilds it from Postgres (periodically,
and at once when the relay notices that Redis lost its data).
"""

from __future__ import annotations

import json

import redis
from redis.typing import EncodableT, FieldT

_APPLY_ONCE = """
if redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[1]) == false then return 0 end
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local lines = cjson.decode(ARGV[2])
for sku, qty in pairs(lines) do redis.call('HINCRBY', KEYS[1], sku, -qty) end
return 1
"""

APPLIED_TTL_SECONDS = 30 * 24 * 3600


class StockMirror:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self._apply = client.register_script(_APPLY_ONCE)

    @staticmethod
    def _key(shop_id: str) -> str:
        return f"kassa:{{{shop_id}}}:stock"

    def decrement_once(self, shop_id: str, dedupe_key: str, lines: dict[str, int]) -> bool:
        """Apply the decrement if this dedupe key was never applied; True if applied now.

        A shop without a mirror (Redis lost its data, or it was never built) only gets the
        key marked: subtracting from nothing would invent negative stock, and the rebuild
        from Postgres that follows already counts this sale."""
        applied = self._apply(
            keys=[self._key(shop_id), f"kassa:{{{shop_id}}}:mirror-applied:{dedupe_key}"],
            args=[APPLIED_TTL_SECONDS, json.dumps(lines)],
        )
        return bool(applied)

    def levels(self, shop_id: str) -> dict[str, int]:
        return {_text(k): int(v) for k, v in self.redis.hgetall(self._key(shop_id)).items()}

    def replace(self, shop_id: str, levels: dict[str, int]) -> None:
        pipe = self.redis.pipeline()
        pipe.delete(self._key(shop_id))
        if levels:
            # Copied into redis's own types: hset's Mapping is invariant in its key.
            mapping: dict[FieldT, EncodableT] = {sku: n for sku, n in levels.items()}
            pipe.hset(self._key(shop_id), mapping=mapping)
        pipe.execute()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value

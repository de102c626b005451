"""Server-side carts in Redis. A line stores SKU, variant and quantity, never a price, and is
keyed by SKU *and* variant so that changing one colour never touches another."""

from __future__ import annotations

import json
import secrets

import redis

from schemas.cart import CartLine, line_key_for

# Add to a line atomically: concurrent double-clicks add twice, never lose one.
_ADD = """
local cur = redis.call('HGET', KEYS[1], ARGV[1])
local q = tonumber(ARGV[4])
if cur then q = q + cjson.decode(cur)['quantity'] end
if q > tonumber(ARGV[6]) then return -1 end
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode({sku=ARGV[2], variant=ARGV[3], quantity=q}))
redis.call('EXPIRE', KEYS[1], ARGV[5])
return q
"""

MAX_LINE_QUANTITY = 999


class CartStore:
    def __init__(self, client: redis.Redis, ttl_seconds: int) -> None:
        self.redis = client
        self.ttl = ttl_seconds
        self._add = client.register_script(_ADD)

    @staticmethod
    def new_id() -> str:
        return secrets.token_urlsafe(18)

    @staticmethod
    def _key(shop_id: str, cart_id: str) -> str:
        return f"kassa:{{{shop_id}}}:cart:{cart_id}"

    def lines(self, shop_id: str, cart_id: str) -> list[CartLine]:
        raw = self.redis.hgetall(self._key(shop_id, cart_id))
        lines = [CartLine(line_key=_text(k), **json.loads(v)) for k, v in raw.items()]
        return sorted(lines, key=lambda ln: ln.line_key)

    def add(self, shop_id: str, cart_id: str, sku: str, variant: str, quantity: int) -> bool:
        """False if the line would exceed the per-line maximum."""
        key = line_key_for(sku, variant)
        result = self._add(
            keys=[self._key(shop_id, cart_id)],
            args=[key, sku, variant, quantity, self.ttl, MAX_LINE_QUANTITY],
        )
        return int(result) >= 0

    def set_quantity(self, shop_id: str, cart_id: str, line_key: str, quantity: int) -> bool:
        """False if there is no such line. Quantity 0 removes the line."""
        key = self._key(shop_id, cart_id)
        raw = self.redis.hget(key, line_key)
        if raw is None:
            return False
        if quantity == 0:
            self.redis.hdel(key, line_key)
        else:
            self.redis.hset(key, line_key, json.dumps({**json.loads(raw), "quantity": quantity}))
            self.redis.expire(key, self.ttl)
        return True

    def remove(self, shop_id: str, cart_id: str, line_key: str) -> bool:
        return bool(self.redis.hdel(self._key(shop_id, cart_id), line_key))

    def clear(self, shop_id: str, cart_id: str) -> None:
        self.redis.delete(self._key(shop_id, cart_id))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value

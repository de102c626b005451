"""Per-shop API keys for the merchant API.

A key reads ``kassa_sk_<id>_<secret>``: the id finds the row, the secret (256 random
bits) is checked against its stored sha256 in constant time. A fast hash is enough for a
secret of that entropy (nothing to brute-force); only the hash is kept, so the key is
shown once, at creation. Keys are revoked, never deleted, so the audit trail keeps them.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets

from checkout.errors import NotFound, ShopNotFound, Unauthorized
from checkout.ports import Services
from merchant.shops import OPERATOR
from merchant.writes import Actor
from schemas.merchant import ApiKeyCreate, ApiKeyCreated, ApiKeyView
from schemas.records import ApiKeyRecord

log = logging.getLogger(__name__)

PREFIX = "kassa_sk_"
_KEY = re.compile(r"^kassa_sk_([a-z0-9]{16})_([A-Za-z0-9_-]{43})$")
_DUMMY_HASH = hashlib.sha256(b"no such key").hexdigest()


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def view_of(key: ApiKeyRecord) -> ApiKeyView:
    return ApiKeyView.model_validate(key.model_dump(exclude={"secret_hash"}))


def create_api_key(services: Services, body: ApiKeyCreate, actor: str = OPERATOR) -> ApiKeyCreated:
    key_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
    with services.uow() as uow:
        if not uow.shops.exists(body.shop_id):
            raise ShopNotFound()
        record = uow.api_keys.add(key_id, body.shop_id, body.name, _hash(secret))
        uow.audit.add(body.shop_id, "operator.api_key_created", key_id, {"name": body.name}, actor)
    log.info("api key created", extra={"shop_id": body.shop_id, "key_id": key_id})
    return ApiKeyCreated(**view_of(record).model_dump(), key=f"{PREFIX}{key_id}_{secret}")


def list_api_keys(services: Services, shop_id: str | None = None) -> list[ApiKeyView]:
    with services.uow() as uow:
        if shop_id is not None and not uow.shops.exists(shop_id):
            raise ShopNotFound()
        return [view_of(k) for k in uow.api_keys.for_shop(shop_id)]


def revoke_api_key(
    services: Services, key_id: str, shop_id: str | None = None, actor: str = OPERATOR
) -> ApiKeyView:
    """Revoke a key (again is fine). With ``shop_id``, a key of another shop is not found."""
    with services.uow() as uow:
        current = uow.api_keys.get(key_id)
        if current is None or (shop_id is not None and current.shop_id != shop_id):
            raise NotFound("No such API key.")
        record = uow.api_keys.revoke(key_id)
        assert record is not None
        uow.audit.add(record.shop_id, "operator.api_key_revoked", key_id, {}, actor)
    log.info("api key revoked", extra={"shop_id": record.shop_id, "key_id": key_id})
    return view_of(record)


def authenticate(services: Services, token: str) -> Actor:
    """The shop and key behind a bearer token; Unauthorized for anything malformed,
    unknown or revoked (the same answer for each, so a caller learns nothing)."""
    match = _KEY.match(token)
    key_id, secret = match.groups() if match else ("", "")
    with services.uow() as uow:
        record = uow.api_keys.get(key_id) if match else None
        expected = record.secret_hash if record is not None else _DUMMY_HASH
        valid = hmac.compare_digest(_hash(secret).encode(), expected.encode())
        if record is None or not valid or record.revoked_at is not None:
            raise Unauthorized()
        uow.api_keys.touch(record.id)
    return Actor(shop_id=record.shop_id, label=f"api_key:{record.id}", key_id=record.id)


def key_still_valid(services: Services, key_id: str, shop_id: str) -> bool:
    """Whether a key that signed in earlier (the merchant console's session) still acts for
    ``shop_id``: it exists, is of that shop and is not revoked. Counts as a use."""
    with services.uow() as uow:
        record = uow.api_keys.get(key_id)
        if record is None or record.revoked_at is not None or record.shop_id != shop_id:
            return False
        uow.api_keys.touch(key_id)
    return True

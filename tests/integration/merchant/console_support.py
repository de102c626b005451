"""Driving the merchant console's forms from a Flask test client: a key, the CSRF token
and the form key from a rendered page, signing in."""

from __future__ import annotations

import re
from typing import Any

from kassa.bootstrap import Container
from merchant.api_keys import create_api_key
from schemas.merchant import ApiKeyCreate

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
FORM_KEY = re.compile(r'name="idempotency_key" value="([^"]+)"')


def new_key(container: Container, shop: str = "demo") -> tuple[str, str]:
    created = create_api_key(container, ApiKeyCreate(shop_id=shop, name="console"))
    return created.key, created.id


def captured(pattern: re.Pattern[str] | str, html: str) -> str:
    """The first group of ``pattern`` in ``html``, which must be there."""
    found = re.search(pattern, html)
    assert found, f"{pattern!r} not in the page"
    return found.group(1)


def csrf(client: Any, path: str = "/console/login") -> str:
    resp = client.get(path)
    assert resp.status_code == 200
    return captured(CSRF, resp.get_data(as_text=True))


def login(client: Any, credential: str, shop_id: str = "") -> Any:
    token = csrf(client)
    return client.post(
        "/console/login",
        data={"csrf_token": token, "credential": credential, "shop_id": shop_id},
    )

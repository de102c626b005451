"""The merchant console's door: signing in with a key or the operator token, the session
cookie (what it holds and when it stops holding), CSRF on every form, and one shop's
console never reaching another shop's rows."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from integration.merchant.console_support import (
    CSRF,
    FORM_KEY,
    captured,
    csrf,
    login,
    new_key,
)
from support import db

from kassa.bootstrap import Container
from merchant.api_keys import revoke_api_key
from schemas.outbox import CartClear
from web.console_session import SESSION_COOKIE


def dead_row(container: Container, shop: str, key: str) -> int:
    with container.uow() as uow:
        uow.outbox.add_message(CartClear(shop_id=shop, cart_id="c1"), key)
        [row] = [r for r in uow.outbox.for_shop(shop) if r.dedupe_key == key]
        uow.outbox.record_failure(row.id, "ConnectionError", dead=True)
    return row.id


def session_cookie(resp: Any) -> str:
    [header] = [h for h in resp.headers.getlist("Set-Cookie") if h.startswith(SESSION_COOKIE)]
    return str(header)


def test_a_good_key_signs_in_to_its_shop(client: Any, container: Container) -> None:
    key, key_id = new_key(container)
    resp = login(client, key)
    assert resp.status_code == 303 and resp.headers["Location"].startswith("/console/")
    cookie = session_cookie(resp)
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/console" in cookie
    secret = key.rsplit("_", 1)[1]
    assert secret not in cookie and key not in cookie

    page = client.get("/console/stock")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    html = page.get_data(as_text=True)
    assert 'data-sku="MUG-WHITE"' in html and f"api_key:{key_id}" in html
    assert secret not in html
    assert db(container, "SELECT last_used_at IS NOT NULL FROM api_keys") is True


def test_wrong_or_unknown_credentials_are_refused_alike(client: Any, container: Container) -> None:
    key, _ = new_key(container)
    tampered = key[:-1] + ("A" if key[-1] != "A" else "B")
    for credential, shop in [
        (tampered, ""),
        ("kassa_sk_nope", ""),
        (key, "tokyo"),  # a demo key naming another shop
        (container.settings.admin_token, ""),  # the operator must name a shop
        (container.settings.admin_token, "nowhere"),
        ("not-the-token", "demo"),
    ]:
        resp = login(client, credential, shop)
        assert resp.status_code == 401, credential
        assert "not valid for this shop" in resp.get_data(as_text=True)
        assert not [h for h in resp.headers.getlist("Set-Cookie") if SESSION_COOKIE in h]
    assert client.get("/console/stock").status_code == 303


def test_the_operator_signs_in_for_the_shop_it_names(client: Any, container: Container) -> None:
    resp = login(client, container.settings.admin_token, "tokyo")
    assert resp.status_code == 303
    assert container.settings.admin_token not in session_cookie(resp)
    html = client.get("/console/stock").get_data(as_text=True)
    assert "operator" in html and 'data-sku="TENUGUI-INDIGO"' in html
    assert 'data-sku="MUG-WHITE"' not in html  # demo's


def test_a_revoked_key_cannot_sign_in_and_ends_open_sessions(
    client: Any, container: Container
) -> None:
    key, key_id = new_key(container)
    assert login(client, key).status_code == 303
    assert client.get("/console/stock").status_code == 200
    revoke_api_key(container, key_id)

    resp = client.get("/console/stock")
    assert resp.status_code == 303 and resp.headers["Location"] == "/console/login"
    assert login(client, key).status_code == 401


def test_a_changed_operator_token_ends_operator_sessions(client: Any, container: Container) -> None:
    assert login(client, container.settings.admin_token, "demo").status_code == 303
    assert client.get("/console/stock").status_code == 200
    container.settings = container.settings.model_copy(update={"admin_token": "rotated-token"})
    assert client.get("/console/stock").status_code == 303


def test_a_forged_or_missing_session_is_sent_to_sign_in(client: Any, container: Container) -> None:
    assert client.get("/console/outbox").status_code == 303
    client.set_cookie(SESSION_COOKIE, '{"shop": "demo", "actor": "operator"}', path="/console")
    resp = client.get("/console/outbox")
    assert resp.status_code == 303 and resp.headers["Location"] == "/console/login"


def test_forms_without_the_csrf_token_are_refused(client: Any, container: Container) -> None:
    key, _ = new_key(container)
    resp = client.post("/console/login", data={"credential": key})
    assert resp.status_code == 403 and "form expired" in resp.get_data(as_text=True)

    assert login(client, key).status_code == 303
    row = dead_row(container, "demo", "demo-dead")
    resp = client.post(f"/console/outbox/{row}/replay", data={"idempotency_key": "k1"})
    assert resp.status_code == 403
    resp = client.post(f"/console/outbox/{row}/replay", data={"csrf_token": "forged"})
    assert resp.status_code == 403
    assert db(container, "SELECT state FROM outbox WHERE id = %s", row) == "dead"
    resp = client.post("/console/logout")
    assert resp.status_code == 403 and client.get("/console/stock").status_code == 200


def test_logout_ends_the_session(client: Any, container: Container) -> None:
    key, _ = new_key(container)
    assert login(client, key).status_code == 303
    token = csrf(client, "/console/stock")
    resp = client.post("/console/logout", data={"csrf_token": token})
    assert resp.status_code == 303
    assert "Max-Age=0" in session_cookie(resp) or "expires=Thu, 01 Jan 1970" in session_cookie(resp)
    assert client.get("/console/stock").status_code == 303


@pytest.fixture
def signed_in(client: Any, container: Container) -> Callable[[str], None]:
    def sign(shop: str) -> None:
        key, _ = new_key(container, shop)
        assert login(client, key).status_code == 303

    return sign


def test_outbox_health_shows_and_replays_only_the_shops_own_rows(
    client: Any, container: Container, signed_in: Callable[[str], None]
) -> None:
    mine = dead_row(container, "demo", "demo-dead")
    theirs = dead_row(container, "tokyo", "tokyo-dead")
    with container.uow() as uow:
        uow.outbox.add_message(CartClear(shop_id="demo", cart_id="c2"), "demo-pending")
    signed_in("demo")

    html = client.get("/console/outbox").get_data(as_text=True)
    assert f'data-outbox-id="{mine}"' in html and f'data-outbox-id="{theirs}"' not in html
    assert re.search(r'data-testid="depth-dead">1<', html)
    assert re.search(r'data-testid="depth-pending">1<', html)
    assert "nothing waits" not in html

    token, form_key = captured(CSRF, html), captured(FORM_KEY, html)
    resp = client.post(
        f"/console/outbox/{theirs}/replay", data={"csrf_token": token, "idempotency_key": "x"}
    )
    assert resp.status_code == 404
    assert db(container, "SELECT state FROM outbox WHERE id = %s", theirs) == "dead"

    form = {"csrf_token": token, "idempotency_key": form_key}
    resp = client.post(f"/console/outbox/{mine}/replay", data=form)
    assert resp.status_code == 303 and resp.headers["Location"].endswith("done=replayed")
    assert db(container, "SELECT state FROM outbox WHERE id = %s", mine) == "pending"
    # The same form again (a double click): answered from the first, not a 404.
    assert client.post(f"/console/outbox/{mine}/replay", data=form).status_code == 303
    audit = db(
        container,
        "SELECT count(*) FROM audit_events WHERE kind = 'merchant.outbox.replay'"
        " AND subject = %s AND actor LIKE 'api_key:%%'",
        str(mine),
    )
    assert audit == 1


def test_sign_in_attempts_are_limited_per_client(client: Any, container: Container) -> None:
    answers = [login(client, "kassa_sk_guess", "demo").status_code for _ in range(11)]
    assert answers == [401] * 10 + [429]
    resp = login(client, new_key(container)[0])
    assert resp.status_code == 429 and int(resp.headers["Retry-After"]) >= 1
    assert "wait a minute" in resp.get_data(as_text=True)

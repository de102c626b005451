"""The server-rendered storefront: forms need their CSRF token, pages leak nothing."""

from __future__ import annotations

import re
from typing import Any

import pytest

from kassa.bootstrap import Container
from ops.seed import seed_shop_in


@pytest.fixture(autouse=True)
def demo(container: Container) -> None:
    with container.uow() as uow:
        seed_shop_in(uow, "demo", container.settings)


def token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found
    return found.group(1)


def test_pages_show_prices_from_the_catalog_and_send_no_referrer(client: Any) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert "25.00 USD" in page.get_data(as_text=True)
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert page.headers["Cache-Control"] == "no-store"


def test_a_form_without_its_token_changes_nothing(client: Any, container: Container) -> None:
    refused = client.post("/cart/add", data={"sku": "MUG-WHITE", "quantity": "1"})
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "csrf_failed"
    forged = client.post("/cart/add", data={"sku": "MUG-WHITE", "quantity": "1", "csrf_token": "x"})
    assert forged.status_code == 403
    assert "kassa_cart" not in (refused.headers.get("Set-Cookie") or "")


def test_a_form_with_its_token_adds_to_the_cart(client: Any) -> None:
    form_token = token(client.get("/").get_data(as_text=True))
    added = client.post(
        "/cart/add", data={"sku": "MUG-WHITE", "quantity": "2", "csrf_token": form_token}
    )
    assert added.status_code == 303 and added.headers["Location"] == "/?added=MUG-WHITE"
    cart = client.get("/cart").get_data(as_text=True)
    assert "Enamel mug" in cart and "24.00 USD" in cart
    assert "Standard" in cart and "Pick up in store" in cart  # shipping options from the catalog


def test_a_token_from_another_browser_is_refused(app: Any) -> None:
    alice, mallory = app.test_client(), app.test_client()
    stolen = token(mallory.get("/").get_data(as_text=True))
    alice.get("/")
    resp = alice.post("/cart/add", data={"sku": "MUG-WHITE", "quantity": "1", "csrf_token": stolen})
    assert resp.status_code == 403

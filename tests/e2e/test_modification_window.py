"""A buyer changes their order from another device through the emailed link, in Chromium,
in a delayed-capture shop; when the window's time has passed, the worker captures the new
total. A second buyer cancels and the authorization is voided and the stock is back."""

from __future__ import annotations

import re
from typing import Any

import pytest
from support import db

from devstack.processes import wait_for
from kassa.bootstrap import Container
from ops.seed import seed_shop_in
from schemas.records import Shop
from stripe_emulator.server import EmulatorServer

pytestmark = pytest.mark.e2e

DEMO_KEY = "sk_test_kassa_demo"


def delayed_shop(container: Container) -> Shop:
    with container.uow() as uow:
        seed_shop_in(
            uow, "demo", container.settings, stripe_api_key=DEMO_KEY, capture_mode="delayed"
        )
        shop = uow.shops.get("demo")
    assert shop is not None
    return shop


def buy(pg: Any, url: str, skus: dict[str, int]) -> str:
    for sku, quantity in skus.items():
        pg.goto(f"{url}/")
        pg.locator(f'li[data-sku="{sku}"] input[type=number]').fill(str(quantity))
        pg.locator(f'li[data-sku="{sku}"] button').click()
        pg.get_by_test_id("notice").wait_for()
    pg.goto(f"{url}/cart")
    pg.get_by_role("button", name="Checkout").click()
    pg.get_by_role("button", name="Pay", exact=True).wait_for()
    pg.fill("#email", "e2e.window@example.test")
    pg.get_by_role("button", name="Pay", exact=True).click()
    pg.locator('[data-state="fulfilled"]').wait_for()
    return str(pg.get_by_test_id("status").inner_text())


def emailed_link(smtp: Any, reference: str) -> str:
    mails = wait_for(
        lambda: [m for m in smtp.messages if str(m["Subject"]) == f"Your order {reference}"],
        timeout=30,
    )
    body = mails[0].get_body(("plain",)).get_content()
    found = re.search(r"(http://\S+/access\?token=[0-9a-f]{64})", body)
    assert found, body
    return found.group(1)


def close_window(container: Container, shop: Shop, reference: str) -> None:
    """As if the hour had passed: the order's anchor moves back, its capture falls due."""
    db(
        container,
        "UPDATE orders SET created_at = created_at - make_interval(secs => %s)"
        " WHERE reference = %s RETURNING id",
        shop.capture_window_seconds,
        reference,
    )
    db(
        container,
        "UPDATE outbox SET available_at = now() WHERE kind = 'stripe.capture'"
        " AND state = 'pending' RETURNING id",
    )


def test_change_from_the_email_link_then_captured_for_the_new_total(
    stack: str,
    browser: Any,
    page: tuple[Any, Any],
    container: Container,
    emulator: EmulatorServer,
    smtp: Any,
) -> None:
    shop = delayed_shop(container)
    pg, shot = page
    buy(pg, stack, {"MUG-WHITE": 3})
    reference = db(container, "SELECT reference FROM orders")
    link = emailed_link(smtp, reference)

    phone = browser.new_context()
    try:
        other = phone.new_page()
        other.goto(link)
        assert other.url == f"{stack}/orders/{reference}"  # the token is gone from the URL
        assert other.get_by_test_id("order-total").inner_text() == "$41.00"
        assert other.get_by_test_id("payment-state").inner_text() == "authorized"
        other.get_by_test_id("remaining").wait_for()
        other.screenshot(path=str(shot.dir / "phone-email-link-opened.png"), full_page=True)
        other.get_by_test_id("line-quantity").fill("1")
        other.get_by_test_id("line-update").click()
        other.get_by_test_id("notice").wait_for()
        assert other.get_by_test_id("order-total").inner_text() == "$17.00"
        other.fill('input[name="line1"]', "2 Phone Lane")
        other.fill('input[name="city"]', "Mobiletown")
        other.fill('input[name="postal_code"]', "MB1 2PH")
        other.fill('input[name="country"]', "GB")
        other.get_by_test_id("address-save").click()
        other.get_by_test_id("notice").wait_for()
        other.screenshot(path=str(shot.dir / "phone-changed.png"), full_page=True)
        assert other.evaluate("Object.keys(window.localStorage).length") == 0
        assert "token" not in other.url

        close_window(container, shop, reference)
        wait_for(lambda: db(container, "SELECT status FROM orders") == "captured", timeout=30)
        other.reload()
        assert other.get_by_test_id("payment-state").inner_text() == "captured"
        assert "2 Phone Lane" in other.get_by_test_id("address").inner_text()
        assert other.get_by_test_id("cancel-order").count() == 0
        other.screenshot(path=str(shot.dir / "phone-captured.png"), full_page=True)
    finally:
        phone.close()
    pi = db(container, "SELECT stripe_payment_intent_id FROM payments")
    intent = container.payments.retrieve_payment_intent(shop, pi)
    assert (intent.status, intent.amount_received) == ("succeeded", 1700)


def test_cancel_voids_the_authorization_and_returns_the_stock(
    stack: str, page: tuple[Any, Any], container: Container, emulator: EmulatorServer
) -> None:
    shop = delayed_shop(container)
    before = db(container, "SELECT sum(on_hand) FROM inventory_levels WHERE sku = 'MUG-WHITE'")
    pg, shot = page
    buy(pg, stack, {"MUG-WHITE": 2})
    reference = db(container, "SELECT reference FROM orders")
    pg.get_by_test_id("order-link").click()
    pg.get_by_test_id("cancel-order").click()
    pg.get_by_test_id("notice").wait_for()
    assert pg.get_by_test_id("order-status").inner_text() == "cancelled"
    shot("cancelled")
    pi = db(container, "SELECT stripe_payment_intent_id FROM payments")
    wait_for(
        lambda: container.payments.retrieve_payment_intent(shop, pi).status == "canceled",
        timeout=30,
    )
    due = "SELECT count(*) FROM outbox WHERE state <> 'done' AND available_at <= now()"
    wait_for(lambda: db(container, due) == 0, timeout=30)
    pg.reload()
    assert pg.get_by_test_id("payment-state").inner_text() == "voided"
    assert db(container, "SELECT sum(on_hand) FROM inventory_levels WHERE sku = 'MUG-WHITE'") == (
        before
    )
    assert container.mirror.levels("demo")["MUG-WHITE"] == before
    assert db(container, "SELECT status FROM orders WHERE reference = %s", reference) == (
        "cancelled"
    )


def test_one_browser_changes_both_orders_it_bought(
    stack: str, page: tuple[Any, Any], container: Container, emulator: EmulatorServer
) -> None:
    """Chromium keeps one HttpOnly order cookie per order, at that order's paths: after a
    second purchase the first order can still be cancelled, and the second lowered."""
    delayed_shop(container)
    pg, shot = page
    buy(pg, stack, {"MUG-WHITE": 2})
    buy(pg, stack, {"MUG-WHITE": 3})
    first = db(container, "SELECT reference FROM orders ORDER BY created_at LIMIT 1")
    second = db(container, "SELECT reference FROM orders ORDER BY created_at DESC LIMIT 1")
    held = {c["path"]: c for c in pg.context.cookies() if c["name"] == "kassa_order"}
    assert set(held) == {f"/{api}orders/{ref}" for api in ("", "api/") for ref in (first, second)}
    assert all(c["httpOnly"] and c["sameSite"] == "Lax" for c in held.values())
    assert "kassa_order" not in pg.evaluate("document.cookie")

    pg.goto(f"{stack}/orders/{first}")
    pg.get_by_test_id("cancel-order").click()
    pg.get_by_test_id("notice").wait_for()
    assert pg.get_by_test_id("order-status").inner_text() == "cancelled"
    pg.goto(f"{stack}/orders/{second}")
    pg.get_by_test_id("line-quantity").fill("1")
    pg.get_by_test_id("line-update").click()
    pg.get_by_test_id("notice").wait_for()
    assert pg.get_by_test_id("order-total").inner_text() == "$17.00"
    shot("second-order-lowered")
    pg.goto(f"{stack}/orders/{first}")
    assert pg.get_by_test_id("order-status").inner_text() == "cancelled"

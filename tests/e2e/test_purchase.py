"""A person buys things in a real browser; afterwards the database, the stock mirror, Stripe
(the emulator) and the mailbox must all tell the same story."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import requests
from support import db, emulator_state

from devstack.processes import wait_for
from kassa.bootstrap import Container
from schemas.records import InventoryLevel
from stripe_emulator.server import EmulatorServer

pytestmark = pytest.mark.e2e


def add_to_cart(page: Any, url: str, sku: str) -> None:
    page.goto(f"{url}/")
    page.locator(f'li[data-sku="{sku}"] button').click()
    assert f"Added {sku} to your cart" in page.get_by_test_id("notice").inner_text()


def go_to_hosted_checkout(page: Any, url: str) -> None:
    page.goto(f"{url}/cart")
    page.get_by_role("button", name="Checkout").click()
    page.get_by_role("button", name="Pay", exact=True).wait_for()


def all_side_effects_done(container: Container) -> bool:
    return (
        db(container, "SELECT count(*) FROM outbox WHERE state <> 'done'") == 0
        and db(container, "SELECT count(*) FROM outbox") > 0
    )


def checkout_id_from(page: Any) -> str:
    return page.url.split("checkout_id=")[1].split("&")[0]


def test_full_purchase(
    stack: str, page: tuple[Any, Any], container: Container, emulator: EmulatorServer, smtp: Any
) -> None:
    pg, shot = page
    pg.goto(f"{stack}/")
    shot.checked("products")
    add_to_cart(pg, stack, "TSHIRT-BLUE-M")
    add_to_cart(pg, stack, "MUG-WHITE")
    shot.checked("products-added")
    pg.goto(f"{stack}/cart")
    shot.checked("cart")
    pg.locator('tr[data-sku="MUG-WHITE"] input[type=number]').fill("3")
    pg.locator('tr[data-sku="MUG-WHITE"] button:has-text("Update")').click()
    assert pg.get_by_test_id("subtotal").inner_text() == "$61.00"
    assert pg.get_by_test_id("shipping").inner_text() == "$5.00"
    assert pg.get_by_test_id("total").inner_text() == "$66.00"  # before the payment page
    assert "Kassa T-shirt (colour=blue,size=M)" in pg.locator("table.cart").inner_text()
    assert pg.get_by_test_id("cart-link").inner_text() == "Cart (4)"
    shot.checked("cart-updated")
    pg.get_by_role("button", name="Checkout").click()
    pg.get_by_role("button", name="Pay", exact=True).wait_for()
    hosted = pg.content()
    assert "Kassa T-shirt (colour=blue,size=M)" in hosted and "Enamel mug (colour=white)" in hosted
    assert pg.locator("#total").inner_text() == "$66.00"
    shot("hosted-checkout")
    pg.fill("#email", "e2e.buyer@example.test")
    pg.get_by_role("button", name="Pay", exact=True).click()
    pg.wait_for_url("**/checkout/success?checkout_id=*")
    assert "cs_test" not in pg.url and "secret" not in pg.url
    pg.locator('[data-state="fulfilled"]').wait_for()
    assert pg.get_by_test_id("cart-link").inner_text() == "Cart"  # the spent cart is gone
    shot.checked("success-confirmed")
    reference = db(container, "SELECT reference FROM orders")
    assert reference in pg.get_by_test_id("status").inner_text()
    assert pg.get_by_test_id("order-total").inner_text() == "$66.00"  # the summary
    pg.get_by_test_id("order-link").click()
    assert pg.get_by_test_id("order-reference").inner_text() == reference
    assert pg.get_by_test_id("order-total").inner_text() == "$66.00"
    assert pg.get_by_test_id("order-date").inner_text().endswith("UTC")
    assert pg.get_by_test_id("order-payment").inner_text() == "Paid through Stripe."
    assert "Enamel mug (colour=white)" in pg.locator("table.cart").inner_text()
    assert pg.get_by_test_id("cart-link").inner_text() == "Cart"
    shot.checked("order-page")
    assert pg.evaluate("Object.keys(window.localStorage).length") == 0

    assert db(container, "SELECT count(*) FROM orders") == 1
    assert db(container, "SELECT on_hand FROM inventory_levels WHERE sku = 'MUG-WHITE'") == 47
    assert db(container, "SELECT sum(reserved) FROM inventory_levels") == 0
    wait_for(lambda: all_side_effects_done(container), timeout=30)
    assert container.mirror.levels("demo")["MUG-WHITE"] == 47
    assert container.mirror.levels("demo")["TSHIRT-BLUE-M"] == 24
    mails = wait_for(
        lambda: [m for m in smtp.messages if reference in str(m["Subject"])], timeout=30
    )
    assert len(mails) == 1 and mails[0]["To"] == "e2e.buyer@example.test"
    text = mails[0].get_body(("plain",)).get_content()
    html = mails[0].get_body(("html",)).get_content()
    for part in (text, html):
        assert reference in part and "$66.00" in part and "Enamel mug (colour=white)" in part
        assert "UTC" in part and "Paid through Stripe." in part


def test_declined_payment_returns_to_cart_with_stock_released(
    stack: str, page: tuple[Any, Any], container: Container
) -> None:
    pg, shot = page
    add_to_cart(pg, stack, "POSTER-A2")
    go_to_hosted_checkout(pg, stack)
    assert db(container, "SELECT reserved FROM inventory_levels WHERE sku = 'POSTER-A2'") == 1
    shot("hosted-checkout")
    pg.get_by_role("button", name="Decline").click()
    pg.wait_for_url("**/cart")
    assert "Your card was declined" in pg.get_by_test_id("error").inner_text()
    assert pg.locator('tr[data-sku="POSTER-A2"]').count() == 1  # the cart is still there
    shot.checked("back-in-cart")
    assert db(container, "SELECT reserved FROM inventory_levels WHERE sku = 'POSTER-A2'") == 0
    assert db(container, "SELECT state FROM checkouts") == "expired"
    assert db(container, "SELECT count(*) FROM orders") == 0


def test_pay_later_settles(
    stack: str, page: tuple[Any, Any], container: Container, emulator: EmulatorServer
) -> None:
    pg, shot = page
    add_to_cart(pg, stack, "STICKERS")
    go_to_hosted_checkout(pg, stack)
    pg.get_by_role("button", name="Pay later (async)").click()
    pg.wait_for_url("**/checkout/success?checkout_id=*")
    assert "confirming your payment" in pg.get_by_test_id("status").inner_text()
    shot.checked("success-pending")
    assert db(container, "SELECT count(*) FROM orders") == 0
    session_id = db(container, "SELECT stripe_session_id FROM checkouts")
    requests.post(
        f"{emulator.url}/_emulator/checkout/sessions/{session_id}/async",
        json={"result": "succeeded"},
        timeout=10,
    ).raise_for_status()
    pg.locator('[data-state="fulfilled"]').wait_for()
    shot.checked("success-confirmed")
    assert db(container, "SELECT count(*) FROM orders") == 1
    wait_for(lambda: all_side_effects_done(container), timeout=30)
    assert container.mirror.levels("demo")["STICKERS"] == 249


def test_sold_out_before_payment_is_refunded(
    stack: str, page: tuple[Any, Any], container: Container, emulator: EmulatorServer
) -> None:
    pg, shot = page
    with container.uow() as uow:
        uow.inventory.set_level(
            "demo",
            InventoryLevel(sku="POSTER-A2", location="store", priority=2, on_hand=1, reserved=0),
        )
    add_to_cart(pg, stack, "POSTER-A2")
    go_to_hosted_checkout(pg, stack)
    checkout_id = uuid.UUID(db(container, "SELECT id::text FROM checkouts"))
    with container.uow() as uow:  # the hold lapses and the last poster sells in the shop
        uow.inventory.finish_holds("demo", checkout_id, "expired")
        uow.inventory.set_level(
            "demo",
            InventoryLevel(sku="POSTER-A2", location="store", priority=2, on_hand=0, reserved=0),
        )
    shot("hosted-checkout")
    pg.get_by_role("button", name="Pay", exact=True).click()
    pg.locator('[data-state="stock_conflict"]').wait_for()
    assert "refunded in full" in pg.get_by_test_id("status").inner_text()
    shot.checked("stock-conflict")
    assert db(container, "SELECT status FROM orders") == "stock_conflict"
    assert db(container, "SELECT min(on_hand) FROM inventory_levels") >= 0
    wait_for(lambda: all_side_effects_done(container), timeout=30)
    assert emulator_state(emulator.url)["accounts"]["sk_test_kassa_demo"]["refunds"] == 1
    assert db(container, "SELECT refunded_amount FROM payments") == 4000 + 500  # item and shipping

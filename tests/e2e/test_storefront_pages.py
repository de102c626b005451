"""What a shopper sees when things go wrong or someone else's link is opened: Back after a
failed checkout, a stranger's success link, a yen shop's amounts, and the pages no purchase
reaches. Every storefront page passes axe-core with no serious or critical violation."""

from __future__ import annotations

from typing import Any

import pytest
from e2e.conftest import Shots
from e2e.test_purchase import add_to_cart, go_to_hosted_checkout
from support import db

from kassa.bootstrap import Container
from schemas.records import InventoryLevel

pytestmark = pytest.mark.e2e


def assert_cart_page(pg: Any, stack: str) -> None:
    assert pg.url.startswith(f"{stack}/cart"), pg.url
    assert pg.get_by_role("heading", name="Your cart").is_visible()
    assert "Confirm Form Resubmission" not in pg.content()


def test_back_after_a_failed_checkout_never_asks_to_resubmit(
    stack: str, page: tuple[Any, Shots], container: Container
) -> None:
    pg, shot = page
    add_to_cart(pg, stack, "POSTER-A2")
    pg.goto(f"{stack}/cart")
    pg.get_by_label("Coupon code").fill("BOGUS")
    pg.get_by_role("button", name="Checkout").click()
    pg.get_by_test_id("error").wait_for()
    assert pg.get_by_test_id("error").inner_text() == "No such coupon."
    assert_cart_page(pg, stack)
    shot.checked("bad-coupon")

    with container.uow() as uow:  # the last posters sell in the shop meanwhile
        uow.inventory.set_level(
            "demo",
            InventoryLevel(sku="POSTER-A2", location="store", priority=2, on_hand=0, reserved=0),
        )
    pg.get_by_role("button", name="Checkout").click()
    assert "POSTER-A2: you asked for 1, 0 left" in pg.get_by_test_id("error").inner_text()
    shot.checked("out-of-stock")

    pg.get_by_role("link", name="Kassa Demo Shop").click()
    pg.wait_for_url(f"{stack}/")
    pg.go_back()  # to the page the failed POST led to: a GET, so no resubmission prompt
    assert_cart_page(pg, stack)
    assert pg.get_by_test_id("error").count() == 0  # the message was said once
    shot.checked("after-back")
    pg.reload()
    assert_cart_page(pg, stack)
    assert db(container, "SELECT count(*) FROM checkouts") == 0


def test_a_stranger_opening_a_success_link_is_told_it_is_not_theirs(
    stack: str, page: tuple[Any, Shots], browser: Any, container: Container
) -> None:
    pg, shot = page
    add_to_cart(pg, stack, "STICKERS")
    go_to_hosted_checkout(pg, stack)
    pg.get_by_role("button", name="Pay", exact=True).click()
    pg.locator('[data-state="fulfilled"]').wait_for()
    shot.checked("owner-success")
    link = pg.url

    stranger = browser.new_context()
    try:
        spg = stranger.new_page()
        response = spg.goto(link)
        assert response is not None and response.status == 404
        status = spg.get_by_test_id("status")
        assert status.get_attribute("data-state") == "not_yours"
        assert "only opens in the browser that placed the order" in status.inner_text()
        assert "confirming" not in spg.content()
        reference = db(container, "SELECT reference FROM orders")
        assert reference not in spg.content()
        Shots(spg, f"{shot.dir.name}_stranger").checked("stranger")
        assert spg.goto(f"{stack}/orders/{reference}").status == 404
        assert spg.get_by_test_id("not-found").is_visible()
        Shots(spg, f"{shot.dir.name}_stranger_order").checked("stranger-order")
    finally:
        stranger.close()


@pytest.mark.parametrize("storefront_shop", ["tokyo"])
def test_a_yen_shop_shows_yen_without_decimals_everywhere(
    stack: str, page: tuple[Any, Shots], container: Container
) -> None:
    pg, shot = page
    pg.goto(f"{stack}/")
    assert "¥1,500" in pg.locator('li[data-sku="TENUGUI-INDIGO"]').inner_text()
    shot.checked("products")
    add_to_cart(pg, stack, "TENUGUI-INDIGO")
    pg.goto(f"{stack}/cart")
    assert pg.get_by_test_id("total").inner_text() == "¥2,100"  # 1,500 + 600 shipping
    shot.checked("cart")
    pg.get_by_role("button", name="Checkout").click()
    pg.get_by_role("button", name="Pay", exact=True).wait_for()
    assert pg.locator("#total").inner_text() == "¥2,100"
    assert ".00" not in pg.locator("table").inner_text()
    shot("hosted-checkout")
    pg.get_by_role("button", name="Pay", exact=True).click()
    pg.locator('[data-state="fulfilled"]').wait_for()
    assert pg.get_by_test_id("order-total").inner_text() == "¥2,100"
    shot.checked("success")
    assert db(container, "SELECT total FROM orders") == 2100


def test_pages_without_a_purchase_are_accessible(stack: str, page: tuple[Any, Shots]) -> None:
    pg, shot = page
    pg.goto(f"{stack}/cart")
    assert pg.get_by_test_id("empty-cart").is_visible()
    shot.checked("empty-cart")
    pg.goto(f"{stack}/orders/K-NOPE")
    shot.checked("order-not-found")
    pg.keyboard.press("Tab")  # the first stop is the skip link, and focus is visible
    focused = pg.evaluate("document.activeElement.className")
    outline = pg.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert focused == "skip-link" and outline == "solid"
    shot("skip-link-focused")


def test_the_accessibility_check_fails_on_a_serious_violation(page: tuple[Any, Shots]) -> None:
    """The axe-core gate itself: an unlabelled field and an image without text must fail it."""
    pg, shot = page
    pg.set_content(
        '<html lang="en"><head><title>t</title></head><body><main><h1>Form</h1>'
        '<input type="text"><img src="x.png"></main></body></html>'
    )
    with pytest.raises(AssertionError, match=r"label \((critical|serious)\)"):
        shot.checked("broken-page")

"""Changes that change nothing move no money, stock or history; a change is priced with the
terms the order was sold with."""

from __future__ import annotations

from typing import Any

from integration.workers.window_support import buy, stripe_refunds, use_capture_mode
from support import db

from kassa.bootstrap import Container
from merchant.orders import refund_in
from merchant.shops import update_shop
from schemas.merchant import ShopSettingsPatch
from schemas.merchant_orders import RefundRequest
from schemas.records import Coupon
from stripe_emulator.server import EmulatorServer
from workers.jobs import perform_row

HISTORY = "SELECT count(*) FROM order_events WHERE order_id = %s"
OUTBOX = "SELECT count(*) FROM outbox"


def test_setting_a_line_to_the_quantity_it_has_is_answered_and_recorded_nowhere(
    client: Any, container: Container, emulator: EmulatorServer
) -> None:
    use_capture_mode(container, "immediate")
    order = buy(client, container, emulator.url, {"MUG-WHITE": 2})
    before = order.get().get_json()
    rows = db(container, OUTBOX)
    same = order.set_quantity(order.line_id("MUG-WHITE"), 2, key="same")
    assert same.status_code == 200 and same.get_json() == before
    assert db(container, HISTORY, order.order_id) == 0
    assert db(container, OUTBOX) == rows  # no email, no refund, no stock message


def test_a_change_reprices_with_the_coupon_as_it_was_sold(
    client: Any, container: Container, emulator: EmulatorServer
) -> None:
    """The merchant cut the coupon from 50 % to 1 % after the sale: one mug fewer still
    costs half price, so the customer gets back half a mug, not less (with today's terms,
    the lower quantity would even cost more than the order paid)."""
    use_capture_mode(container, "immediate")
    with container.uow() as uow:
        uow.catalog.upsert_coupon("demo", Coupon(code="HALF", percent_off=50, amount_off=None))
    order = buy(client, container, emulator.url, {"MUG-WHITE": 3}, coupon="HALF")
    before = order.get().get_json()
    unit = before["subtotal"] // 3
    with container.uow() as uow:
        uow.catalog.upsert_coupon("demo", Coupon(code="HALF", percent_off=1, amount_off=None))

    resp = order.set_quantity(order.line_id("MUG-WHITE"), 2)

    assert resp.status_code == 200, resp.get_json()
    after = resp.get_json()
    assert (after["subtotal"], after["discount"]) == (2 * unit, unit)
    assert after["total"] == unit + before["shipping"]
    refunds = db(
        container,
        "SELECT array_agg((payload->>'amount')::bigint) FROM outbox WHERE kind = 'stripe.refund'",
    )
    assert refunds == [before["total"] - after["total"]]


def test_a_shop_window_changed_after_the_sale_moves_no_order_window(
    client: Any, app: Any, container: Container, emulator: EmulatorServer
) -> None:
    """The window is fixed when the order is placed: an operator who lengthens the shop's
    window later reopens no closed order, and one who shortens it closes no open one."""
    shop = use_capture_mode(container, "immediate")
    closed = buy(client, container, emulator.url, {"MUG-WHITE": 1})
    closed.close_window()
    still_open = buy(app.test_client(), container, emulator.url, {"MUG-WHITE": 1})
    longer = update_shop(container, "demo", ShopSettingsPatch(capture_window_seconds=7200))
    assert longer.capture_window_seconds == 7200

    view = closed.get().get_json()
    assert (view["modification_allowed"], view["remaining_seconds"]) == (False, 0)
    refused = closed.cancel()
    assert (refused.status_code, refused.get_json()["error"]["code"]) == (409, "window_closed")

    update_shop(container, "demo", ShopSettingsPatch(capture_window_seconds=60))
    view = still_open.get().get_json()
    assert 60 < view["remaining_seconds"] <= shop.capture_window_seconds
    assert still_open.cancel().status_code == 200


def test_a_lowering_after_a_merchant_refund_refunds_no_more_than_is_left(
    client: Any, container: Container, emulator: EmulatorServer
) -> None:
    """The merchant gave back 40 of the 44 paid. The customer then keeps one mug of three:
    the difference, 24, is more than the 4 the payment still holds, so the refund is the 4
    (as a cancel's would be), not one Stripe refuses for good. Dropping the stickers next
    refunds nothing: nothing is left."""
    use_capture_mode(container, "immediate")
    order = buy(client, container, emulator.url, {"MUG-WHITE": 3, "STICKERS": 1})
    assert order.get().get_json()["total"] == 3600 + 300 + 500
    with container.uow() as uow:
        shop = uow.shops.get("demo")
        assert shop is not None
        refund_in(uow, shop, order.reference, RefundRequest(amount=4000))

    assert order.set_quantity(order.line_id("MUG-WHITE"), 1).status_code == 200
    dropped = order.set_quantity(order.line_id("STICKERS"), 0)

    assert dropped.status_code == 200 and dropped.get_json()["total"] == 1200 + 500
    rows = db(
        container, "SELECT array_agg(id ORDER BY id) FROM outbox WHERE kind = 'stripe.refund'"
    )
    assert [perform_row(container, row) for row in rows] == ["done", "done"]
    assert sorted(stripe_refunds(container, emulator.url, order.order_id)) == [400, 4000]
    assert order.payment().refunded_amount == 3600 + 300 + 500

"""The repositories' own guards: a stock or payment write that would not add up is refused,
and the unit of work around it rolls back, whatever the caller's arithmetic said."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from integration.workers.outbox_support import Orders

from kassa.bootstrap import Container
from ops.seed import seed_shop_in
from repos.inventory import StockChanged
from schemas.records import CheckoutRecord, InventoryLevel

SKU = "MUG-WHITE"


@pytest.fixture
def orders(container: Container) -> Orders:
    """The demo shop, with MUG-WHITE on hand at two locations: 5 at "east", 5 at "west"."""
    with container.uow() as uow:
        seed_shop_in(uow, "demo", container.settings, stripe_api_key="sk_test_kassa_demo")
        uow.conn.execute("DELETE FROM inventory_levels WHERE shop_id = 'demo' AND sku = %s", (SKU,))
        for location in ("east", "west"):
            uow.inventory.set_level(
                "demo",
                InventoryLevel(sku=SKU, location=location, priority=0, on_hand=5, reserved=0),
            )
    return Orders(container)


def stock(container: Container) -> dict[str, tuple[int, int]]:
    """(on_hand, reserved) of the SKU by location."""
    with container.uow() as uow:
        return {
            lv.location: (lv.on_hand, lv.reserved)
            for lv in uow.inventory.levels("demo")
            if lv.sku == SKU
        }


def held(container: Container, checkout: CheckoutRecord) -> dict[str, tuple[str, int]]:
    """(state, quantity) of the checkout's hold lines by location."""
    with container.uow() as uow:
        return {h.location: (h.state, h.quantity) for h in uow.inventory.holds(checkout.id)}


def test_a_hold_for_more_than_is_left_is_refused_and_reserves_nothing(
    container: Container, orders: Orders
) -> None:
    checkout = orders.checkout({SKU: 1})
    later = datetime.now(UTC) + timedelta(hours=1)
    with pytest.raises(StockChanged, match="MUG-WHITE@west"), container.uow() as uow:
        uow.inventory.place_holds("demo", checkout.id, {"east": {SKU: 2}, "west": {SKU: 6}}, later)
    assert stock(container) == {"east": (5, 0), "west": (5, 0)}
    assert held(container, checkout) == {}


def test_returned_units_go_back_where_they_came_from_and_never_more(
    container: Container, orders: Orders
) -> None:
    checkout = orders.checkout({SKU: 5})
    with container.uow() as uow:  # a paid order took 2 from east and 3 from west
        uow.inventory.place_holds(
            "demo",
            checkout.id,
            {"east": {SKU: 2}, "west": {SKU: 3}},
            datetime.now(UTC),
            state="committed",
        )
    assert stock(container) == {"east": (3, 0), "west": (2, 0)}

    with container.uow() as uow:
        uow.inventory.return_units("demo", checkout.id, {SKU: 1})
    assert stock(container) == {"east": (4, 0), "west": (2, 0)}  # west is not touched
    assert held(container, checkout) == {"east": ("committed", 1), "west": ("committed", 3)}

    with pytest.raises(StockChanged, match="6 more returned"), container.uow() as uow:
        uow.inventory.return_units("demo", checkout.id, {SKU: 10})
    assert stock(container) == {"east": (4, 0), "west": (2, 0)}
    assert held(container, checkout) == {"east": ("committed", 1), "west": ("committed", 3)}


def test_a_refund_of_a_payment_the_order_does_not_have_is_refused(
    container: Container, orders: Orders
) -> None:
    order = orders.order({SKU: 1}, payment_intent_id="pi_of_this_order")
    with pytest.raises(LookupError), container.uow() as uow:
        uow.orders.record_refund(order.id, "pi_of_another_order", 100, "re_1")
    with container.uow() as uow:
        payment = uow.orders.payment(order.id)
        events = uow.orders.payment_events(order.id)
    assert payment is not None and (payment.status, payment.refunded_amount) == ("succeeded", 0)
    assert [e.kind for e in events] == ["charged"]

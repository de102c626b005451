"""Changes that change nothing, or that would cost the customer more: neither moves money,
stock or the order's history."""

from __future__ import annotations

from typing import Any

from integration.workers.window_support import buy, use_capture_mode
from support import db

from kassa.bootstrap import Container
from schemas.records import Coupon
from stripe_emulator.server import EmulatorServer

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


def test_a_lowering_that_would_cost_more_is_refused(
    client: Any, container: Container, emulator: EmulatorServer
) -> None:
    """The order is repriced with its coupon's terms as the catalog has them now: the
    merchant cut the coupon after the sale, so one mug fewer would cost more than two did.
    A change only ever lowers what the customer pays."""
    use_capture_mode(container, "immediate")
    with container.uow() as uow:
        uow.catalog.upsert_coupon("demo", Coupon(code="HALF", percent_off=50, amount_off=None))
    order = buy(client, container, emulator.url, {"MUG-WHITE": 3}, coupon="HALF")
    before = order.get().get_json()
    with container.uow() as uow:
        uow.catalog.upsert_coupon("demo", Coupon(code="HALF", percent_off=1, amount_off=None))
    rows = db(container, OUTBOX)
    resp = order.set_quantity(order.line_id("MUG-WHITE"), 2)
    assert resp.status_code == 409
    assert resp.get_json()["error"]["code"] == "amount_increase_not_allowed"
    assert order.get().get_json() == before
    assert db(container, HISTORY, order.order_id) == 0 and db(container, OUTBOX) == rows

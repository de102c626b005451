"""A real purchase to modify: checkout over the API, paid in the Stripe emulator, fulfilled
through the status endpoint (which hands the browser its order cookie), and the outbox
drained by a real worker process. Nothing of ours is mocked."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from integration.workers.outbox_support import RelayThread, WorkerProcess
from support import db, emulator_state, pay

from devstack.processes import wait_for
from kassa.bootstrap import Container
from ops.seed import seed_shop_in
from schemas.records import PaymentRecord, Shop
from schemas.stripe import PaymentIntent

API_KEY = "sk_test_kassa_demo"


def use_capture_mode(container: Container, mode: Literal["immediate", "delayed"]) -> Shop:
    with container.uow() as uow:
        seed_shop_in(uow, "demo", container.settings, stripe_api_key=API_KEY, capture_mode=mode)
        shop = uow.shops.get("demo")
        container.mirror.replace("demo", uow.inventory.on_hand_by_sku("demo"))
    assert shop is not None
    return shop


@dataclass
class Bought:
    """An order as its buyer's browser holds it: the test client carries the cookie."""

    client: Any
    container: Container
    shop: Shop
    reference: str
    order_id: uuid.UUID
    session_id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"X-Shop-Id": "demo"}

    def get(self) -> Any:
        return self.client.get(f"/api/orders/{self.reference}", headers=self.headers)

    def cancel(self, key: str | None = None) -> Any:
        return self.client.post(f"/api/orders/{self.reference}/cancel", headers=self._with(key))

    def set_quantity(self, line_id: int, quantity: Any, key: str | None = None) -> Any:
        return self.client.patch(
            f"/api/orders/{self.reference}/lines/{line_id}",
            json={"quantity": quantity},
            headers=self._with(key),
        )

    def set_address(self, address: dict[str, Any], key: str | None = None) -> Any:
        return self.client.put(
            f"/api/orders/{self.reference}/address", json=address, headers=self._with(key)
        )

    def _with(self, key: str | None) -> dict[str, str]:
        return {**self.headers, **({"Idempotency-Key": key} if key else {})}

    def line_id(self, sku: str) -> int:
        return int(next(ln["id"] for ln in self.get().get_json()["lines"] if ln["sku"] == sku))

    def payment(self) -> PaymentRecord:
        with self.container.uow() as uow:
            payment = uow.orders.payment(self.order_id)
        assert payment is not None
        return payment

    def intent(self) -> PaymentIntent:
        pi = self.payment().stripe_payment_intent_id
        assert pi is not None
        return self.container.payments.retrieve_payment_intent(self.shop, pi)

    def close_window(self) -> None:
        """As if the window's time had passed: the order's anchor moves back by the window,
        and the capture row (due at the window's end) becomes due now."""
        db(
            self.container,
            "UPDATE orders SET created_at = created_at - make_interval(secs => %s) WHERE id = %s"
            " RETURNING id",
            self.shop.capture_window_seconds,
            self.order_id,
        )
        db(
            self.container,
            "UPDATE outbox SET available_at = now() WHERE kind = 'stripe.capture'"
            " AND state = 'pending' RETURNING id",
        )


def buy(
    client: Any,
    container: Container,
    emulator_url: str,
    lines: dict[str, int],
    *,
    coupon: str | None = None,
    shipping: str = "standard",
) -> Bought:
    with container.uow() as uow:
        shop = uow.shops.get("demo")
    assert shop is not None
    body: dict[str, Any] = {
        "lines": [{"sku": sku, "quantity": qty} for sku, qty in lines.items()],
        "shipping_option_id": shipping,
        **({"coupon": coupon} if coupon else {}),
    }
    resp = client.post(
        "/api/checkout",
        json=body,
        headers={"X-Shop-Id": "demo", "Idempotency-Key": uuid.uuid4().hex},
    )
    assert resp.status_code == 201, resp.get_json()
    co = resp.get_json()
    pay(emulator_url, co["session_id"])
    status = client.get(
        f"/api/checkout/{co['checkout_id']}/status", headers={"X-Shop-Id": "demo"}
    ).get_json()
    assert status["state"] == "fulfilled", status
    reference = status["order"]["reference"]
    order_id = db(container, "SELECT id FROM orders WHERE reference = %s", reference)
    return Bought(client, container, shop, reference, order_id, co["session_id"])


def drain(
    container: Container,
    worker_process: Callable[..., WorkerProcess],
    relay_thread: Callable[[Container], RelayThread],
) -> WorkerProcess:
    """A real worker and relay; returns once every due outbox row is done."""
    worker = worker_process()
    relay_thread(container)
    wait_for_outbox(container, worker)
    return worker


def wait_for_outbox(container: Container, worker: WorkerProcess) -> None:
    wait_for(
        lambda: (
            db(
                container,
                "SELECT count(*) FROM outbox WHERE state <> 'done' AND available_at <= now()",
            )
            == 0
        ),
        what="every due outbox row to be done",
        context=worker.log_tail,
    )


def on_hand(container: Container, sku: str) -> int:
    return int(db(container, "SELECT sum(on_hand) FROM inventory_levels WHERE sku = %s", sku))


def stripe_refunds(container: Container, emulator_url: str, order_id: uuid.UUID) -> list[int]:
    """The amounts of every refund the emulator made (it must hold no other), checked
    against the refunds our payment history names."""
    count = emulator_state(emulator_url)["accounts"].get(API_KEY, {}).get("refunds", 0)
    with container.uow() as uow:
        ids = [e.stripe_id for e in uow.orders.payment_events(order_id) if e.kind == "refunded"]
        shop = uow.shops.get("demo")
    assert shop is not None and len(ids) == count, (ids, count)
    client = container.payments.client(shop.stripe_api_key)
    return [int(client.v1.refunds.retrieve(i).amount) for i in ids if i]

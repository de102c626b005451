"""What a job does with a row it cannot or need not act on: a kind this version does not
know, a payload naming another shop, an order with no email address, a webhook endpoint
that is gone, an event that is gone; and a job whose database is unreachable, which
leaves the row to RQ's next attempt without counting one."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from integration.workers.outbox_support import ROOT, Orders, env_for, merchant_event
from support import db

from devstack.processes import free_port
from kassa.bootstrap import Container, bootstrap
from repos.merchant_events import EndpointRow
from schemas.outbox import (
    MerchantWebhook,
    OrderConfirmationEmail,
    StockLine,
    StockMirrorDecrement,
)
from schemas.settings import Settings
from workers.failures import RetryLater
from workers.jobs import perform_group, perform_row


def raw_row(container: Container, kind: str, payload: dict[str, object]) -> int:
    """A row as another version of Kassa (or a hand-edited database) may have written it."""
    row_id: int = db(
        container,
        "INSERT INTO outbox (shop_id, kind, payload, dedupe_key) VALUES ('demo', %s, %s, %s)"
        " RETURNING id",
        kind,
        json.dumps(payload),
        f"raw-{uuid.uuid4().hex}",
    )
    return row_id


def test_a_row_of_an_unknown_kind_is_dead_at_once(container: Container, orders: Orders) -> None:
    row_id = raw_row(container, "fax.send", {"shop_id": "demo", "kind": "fax.send"})
    assert perform_row(container, row_id) == "dead"
    row = orders.row(row_id)
    assert (row.attempts, row.last_error) == (1, "unknown_kind")


def test_a_payload_naming_another_shop_is_dead_and_sends_nothing(
    container: Container, settings: Settings, orders: Orders
) -> None:
    """A row acts only for its own shop, whatever its payload says."""
    order = orders.order()
    payload = OrderConfirmationEmail(shop_id="tokyo", order_id=order.id).model_dump(mode="json")
    row_id = raw_row(container, "email.order_confirmation", payload)
    assert perform_row(container, row_id) == "dead"
    assert orders.row(row_id).last_error == "shop_mismatch"
    assert not list(Path(settings.mailbox_dir).glob("*.eml"))


def test_an_order_without_an_email_address_gets_no_email(
    container: Container, settings: Settings, orders: Orders
) -> None:
    silent = orders.order(email=None, name=None)
    row = orders.queue(
        OrderConfirmationEmail(shop_id="demo", order_id=silent.id), f"order-{silent.id}-email"
    )
    assert perform_row(container, row.id) == "done"
    assert not list(Path(settings.mailbox_dir).glob("*.eml"))

    # The same job for an order with an address does write one: the check above can fail.
    order = orders.order()
    row = orders.queue(
        OrderConfirmationEmail(shop_id="demo", order_id=order.id), f"order-{order.id}-email"
    )
    assert perform_row(container, row.id) == "done"
    assert [m.name for m in Path(settings.mailbox_dir).glob("*.eml")] == [
        f"order-{order.id}-email.eml"
    ]


def endpoint(container: Container, *, active: bool) -> uuid.UUID:
    """An endpoint at a port nobody listens on: a delivery attempt could only fail."""
    endpoint_id = uuid.uuid4()
    with container.uow() as uow:
        uow.merchant_events.add_endpoint(
            EndpointRow(
                id=endpoint_id,
                shop_id="demo",
                url=f"http://127.0.0.1:{free_port()}/hooks",
                secret="whsec_test",
                event_types=[],
                active=active,
                created_at=datetime.now(UTC),
            )
        )
    return endpoint_id


def webhook_row(orders: Orders, endpoint_id: uuid.UUID, event_id: str) -> int:
    message = MerchantWebhook(shop_id="demo", endpoint_id=endpoint_id, event_id=event_id)
    return orders.queue(message, f"webhook-{endpoint_id}-{event_id}").id


def test_deliveries_to_a_disabled_or_unknown_endpoint_are_skipped(
    container: Container, orders: Orders
) -> None:
    event = merchant_event(container, "evt_guard_1")
    disabled = endpoint(container, active=False)
    assert perform_row(container, webhook_row(orders, disabled, event.id)) == "done"
    assert perform_row(container, webhook_row(orders, uuid.uuid4(), event.id)) == "done"

    live = webhook_row(orders, endpoint(container, active=True), event.id)
    with pytest.raises(RetryLater):  # an active endpoint is tried: here, nobody answers
        perform_row(container, live)
    assert orders.row(live).last_error == "DeliveryFailed"


def test_a_delivery_of_an_event_that_does_not_exist_is_dead(
    container: Container, orders: Orders
) -> None:
    row_id = webhook_row(orders, endpoint(container, active=True), "evt_never_recorded")
    assert perform_row(container, row_id) == "dead"
    assert orders.row(row_id).last_error == "event_not_found"


def test_a_job_whose_database_is_unreachable_counts_no_attempt(
    settings: Settings, orders: Orders
) -> None:
    """Postgres is down for the group's transaction, for each row's own and for recording
    the failure: the job asks RQ to run it again, and the row, once Postgres is back,
    shows no attempt."""
    row_id = orders.decrement("guard-unreachable")
    cut_off = bootstrap(
        settings.model_copy(
            update={"database_url": f"postgresql://kassa@127.0.0.1:{free_port()}/kassa"}
        )
    )
    try:
        outcomes, retry = perform_group(cut_off, [row_id], "demo")
    finally:
        cut_off.close()
    assert (outcomes, retry) == ({}, "PoolTimeout (unrecorded: PoolTimeout)")
    row = orders.row(row_id)
    assert (row.state, row.attempts, row.last_error) == ("pending", 0, None)


def test_a_bad_row_in_a_redis_only_group_is_counted_once_and_spares_the_others(
    container: Container, orders: Orders
) -> None:
    """The group's transaction applies the good rows; the bad one goes the per-row way,
    which counts its one attempt (the group's failed try is not counted)."""
    container.mirror.replace("demo", {"MUG-WHITE": 10})
    good = orders.decrement("guard-group-good", qty=2)
    payload = StockMirrorDecrement(
        shop_id="tokyo", order_reference="K-X", lines=[StockLine(sku="MUG-WHITE", quantity=3)]
    ).model_dump(mode="json")
    bad = raw_row(container, "stock_mirror.decrement", payload)
    outcomes, retry = perform_group(container, [good, bad], "demo")
    assert (outcomes, retry) == ({good: "done", bad: "dead"}, None)
    assert container.mirror.levels("demo")["MUG-WHITE"] == 8
    assert (orders.row(good).attempts, orders.row(bad).attempts) == (1, 1)
    assert orders.row(bad).last_error == "shop_mismatch"


def test_a_process_without_a_container_builds_one_from_its_environment(
    settings: Settings, orders: Orders, container: Container
) -> None:
    """RQ's entry point run in a bare Python process (no ``kassa worker`` to install a
    container), configured by the environment alone."""
    container.mirror.replace("demo", {"MUG-WHITE": 5})
    row_id = orders.decrement("guard-bare-process")
    code = f"from workers.jobs import run_outbox_rows;print(run_outbox_rows([{row_id}], 'demo'))"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env_for(settings),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{{{row_id}: 'done'}}"
    assert orders.row(row_id).state == "done"
    assert container.mirror.levels("demo")["MUG-WHITE"] == 4

"""Capture never interleaves with a change: quantity changes over HTTP (a threaded server)
and the capture job, released together by a barrier, many times over. Whatever the
order in which they reach the order row lock, the amount captured at Stripe is the
order's final total, and every change that got a 200 is part of that total."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import pytest
import requests
from integration.workers.window_support import buy, use_capture_mode
from support import db

from checkout.capture import begin_capture
from checkout.fulfilment import order_token
from kassa.bootstrap import Container
from schemas.settings import Settings
from stripe_emulator.server import EmulatorServer
from workers.jobs import perform_row


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Many purchases from one address in a minute: lift the checkout rate limit."""
    return settings.model_copy(update={"checkout_rate_limit": "1000/minute"})


RUNS = 12
LINES = {"MUG-WHITE": 4, "STICKERS": 4, "TSHIRT-RED-M": 2}


def race_once(
    run: int, client: Any, live_server: str, container: Container, emulator: EmulatorServer
) -> str:
    order = buy(client, container, emulator.url, LINES)
    headers = {
        "X-Shop-Id": "demo",
        "X-Modification-Token": order_token(container.settings.secret_key, order.order_id),
    }
    lines = order.get().get_json()["lines"]
    capture_row = db(
        container,
        "SELECT id FROM outbox WHERE kind = 'stripe.capture' AND payload->>'order_id' = %s",
        str(order.order_id),
    )
    barrier = threading.Barrier(len(lines) + 1)
    answers: dict[int, tuple[int, str | None]] = {}
    captured: list[str] = []

    def change(line: dict[str, Any]) -> None:
        barrier.wait(timeout=30)
        resp = requests.patch(
            f"{live_server}/api/orders/{order.reference}/lines/{line['id']}",
            json={"quantity": line["quantity"] - 1},
            headers=headers,
            timeout=30,
        )
        code = resp.json().get("error", {}).get("code") if resp.status_code != 200 else None
        answers[line["id"]] = (resp.status_code, code)

    def capture() -> None:
        barrier.wait(timeout=30)
        captured.append(perform_row(container, capture_row))

    threads = [threading.Thread(target=change, args=(ln,)) for ln in lines]
    threads.append(threading.Thread(target=capture))
    # Alternate who is started first, so both orders of arrival get exercised.
    for t in threads if run % 2 else reversed(threads):
        t.start()
    for t in threads:
        t.join(60)
        assert not t.is_alive()

    assert captured == ["done"] and len(answers) == len(lines)
    for status, code in answers.values():
        assert (status, code) in ((200, None), (409, "window_closed"))
    accepted = sum(1 for status, _ in answers.values() if status == 200)

    final_total = db(container, "SELECT total FROM orders WHERE id = %s", order.order_id)
    intent = order.intent()
    assert intent.status == "succeeded"
    assert intent.amount_received == final_total, (run, answers)
    assert order.payment().captured_amount == final_total
    assert db(container, "SELECT status FROM orders WHERE id = %s", order.order_id) == "captured"
    events = db(
        container,
        "SELECT count(*) FROM order_events WHERE order_id = %s AND kind = 'quantity_changed'",
        order.order_id,
    )
    assert events == accepted
    # Every line an accepted change lowered is one unit lower in the captured order.
    now = {ln["id"]: ln["quantity"] for ln in order.get().get_json()["lines"]}
    for ln in lines:
        lowered = answers[ln["id"]][0] == 200
        assert now[ln["id"]] == ln["quantity"] - (1 if lowered else 0)
    return f"{accepted} of {len(lines)} changes before capture"


def test_changes_racing_the_capture_job_are_captured_or_refused(
    client: Any, live_server: str, container: Container, emulator: EmulatorServer
) -> None:
    use_capture_mode(container, "delayed")
    outcomes = Counter(
        race_once(run, client, live_server, container, emulator) for run in range(RUNS)
    )
    print(f"capture race outcomes over {RUNS} runs: {dict(outcomes)}")


def test_a_capture_that_died_after_stripe_finishes_with_the_same_amount_once(
    client: Any, container: Container, emulator: EmulatorServer
) -> None:
    """The worker marked the order capturing, Stripe captured, and the worker died before
    its transaction committed. Changes are refused meanwhile; the retried job captures
    the same amount under the same idempotency key, so Stripe answers with the first."""
    use_capture_mode(container, "delayed")
    order = buy(client, container, emulator.url, LINES)
    row = db(container, "SELECT id FROM outbox WHERE kind = 'stripe.capture'")
    key = db(container, "SELECT dedupe_key FROM outbox WHERE id = %s", row)
    owed = begin_capture(container, "demo", order.order_id)
    assert owed is not None and len(owed) == 1
    amount, pi = owed[0].amount, owed[0].payment_intent_id
    assert pi == order.payment().stripe_payment_intent_id
    container.payments.capture(order.shop, pi, amount, idempotency_key=key)  # then "SIGKILL"
    mug = order.line_id("MUG-WHITE")
    refused = order.set_quantity(mug, 1)
    assert (refused.status_code, refused.get_json()["error"]["code"]) == (409, "window_closed")

    assert perform_row(container, row) == "done"
    assert order.intent().amount_received == amount
    assert order.payment().captured_amount == amount
    assert db(container, "SELECT count(*) FROM payment_events WHERE kind = 'captured'") == 1

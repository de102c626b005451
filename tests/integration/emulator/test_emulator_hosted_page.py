"""The hosted checkout page over real HTTP: what it shows and where its buttons lead."""

from __future__ import annotations

import re
from typing import Any

from integration.emulator.emulator_kit import Emulator, raw_request, session_params


def open_session(emulator: Emulator, **overrides: Any) -> Any:
    return emulator.client().v1.checkout.sessions.create(params=session_params(**overrides))


def press(session: Any, action: str, **fields: str) -> Any:
    return raw_request("POST", session.url, form={"action": action, **fields})


def button_labels(html: str) -> list[str]:
    return re.findall(r"<button[^>]*>([^<]*)</button>", html)


def test_the_page_shows_items_total_payer_fields_and_three_buttons(emulator: Emulator) -> None:
    session = open_session(emulator, customer_email="ada@example.com")

    page = raw_request("GET", session.url)

    assert page.status == 200
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    assert '<meta charset="utf-8">' in html
    assert "Tea towel" in html and "Mug" in html
    assert "€12.50" in html and "€25.00" in html and "€4.99" in html
    assert re.search(r'id="total">€29\.99<', html)
    assert re.search(r'name="email"[^>]*value="ada@example.com"', html)
    assert re.search(r'name="name"[^>]*value="Jenny Rosen"', html)
    assert button_labels(html) == ["Pay", "Pay later (async)", "Decline"]


def test_yen_amounts_have_no_decimals(emulator: Emulator) -> None:
    items = [
        {
            "price_data": {"currency": "jpy", "unit_amount": 1500, "product_data": {"name": "Hon"}},
            "quantity": 2,
        }
    ]
    session = open_session(emulator, line_items=items)

    html = raw_request("GET", session.url).text

    assert session.amount_total == 3000
    assert "¥1,500" in html
    assert 'id="total">¥3,000<' in html
    assert "30.00" not in html and "15.00" not in html


def test_pay_completes_the_session_and_redirects_to_the_success_url(emulator: Emulator) -> None:
    session = open_session(emulator)

    response = press(session, "pay", email="grace@example.com", name="Grace Hopper")

    assert response.status == 303
    assert response.headers["location"] == (
        f"http://shop.test/checkout/success?session_id={session.id}"
    )
    paid = emulator.client().v1.checkout.sessions.retrieve(session.id)
    assert (paid.status, paid.payment_status, paid.url) == ("complete", "paid", None)
    assert paid.customer_details.email == "grace@example.com"
    assert paid.customer_details.name == "Grace Hopper"


def test_pay_later_completes_unpaid_until_the_async_result(emulator: Emulator) -> None:
    session = open_session(emulator)
    client = emulator.client()

    response = press(session, "async")

    assert response.status == 303
    assert response.headers["location"].endswith(session.id)
    pending = client.v1.checkout.sessions.retrieve(
        session.id, params={"expand": ["payment_intent"]}
    )
    assert (pending.status, pending.payment_status) == ("complete", "unpaid")
    assert pending.payment_intent.status == "processing"
    assert emulator.settle_async(session.id, "succeeded").json()["payment_status"] == "paid"
    assert client.v1.payment_intents.retrieve(pending.payment_intent.id).status == "succeeded"


def test_decline_keeps_the_session_open_and_returns_to_the_cancel_url(emulator: Emulator) -> None:
    session = open_session(emulator)
    client = emulator.client()

    response = press(session, "decline")

    assert response.status == 303
    assert response.headers["location"] == "http://shop.test/cart"
    declined = client.v1.checkout.sessions.retrieve(session.id)
    assert (declined.status, declined.payment_status) == ("open", "unpaid")
    assert declined.payment_intent is None
    assert declined.url == session.url
    assert press(session, "pay").status == 303
    assert client.v1.checkout.sessions.retrieve(session.id).payment_status == "paid"


def test_expired_and_completed_sessions_show_a_message_instead_of_buttons(
    emulator: Emulator,
) -> None:
    expired = open_session(emulator)
    completed = open_session(emulator)
    emulator.client().v1.checkout.sessions.expire(expired.id)
    press(completed, "pay")

    expired_page = raw_request("GET", expired.url).text
    completed_page = raw_request("GET", completed.url).text
    late_press = press(expired, "pay")

    assert "has expired" in expired_page and button_labels(expired_page) == []
    assert "is complete" in completed_page and button_labels(completed_page) == []
    assert late_press.status == 409
    assert emulator.client().v1.checkout.sessions.retrieve(expired.id).status == "expired"


def test_unknown_sessions_are_404(emulator: Emulator) -> None:
    response = raw_request("GET", f"{emulator.url}/checkout/cs_test_nope")

    assert response.status == 404
    assert "cs_test_nope" in response.text

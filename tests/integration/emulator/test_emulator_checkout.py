"""Checkout Sessions through the official SDK: create, retrieve, expand, list, validate."""

from __future__ import annotations

import pytest
import stripe
from integration.emulator.emulator_kit import Emulator, session_params


def test_create_returns_an_open_session_priced_from_its_line_items(emulator: Emulator) -> None:
    client = emulator.client()

    session = client.v1.checkout.sessions.create(params=session_params())

    assert isinstance(session, stripe.checkout.Session)
    assert session.id.startswith("cs_test_")
    assert session.object == "checkout.session"
    assert (session.status, session.payment_status, session.mode) == ("open", "unpaid", "payment")
    assert session.amount_subtotal == session.amount_total == 2 * 1250 + 499
    assert session.currency == "eur"
    assert session.payment_intent is None
    assert session.url == f"{emulator.url}/checkout/{session.id}"
    assert session.metadata.to_dict() == {"shop_id": "demo", "checkout_id": "chk_1"}
    assert session.client_reference_id == "chk_1"
    assert session.expires_at == session.created + 24 * 3600
    assert session.livemode is False


def test_retrieve_expands_line_items_and_they_can_be_listed_page_by_page(
    emulator: Emulator,
) -> None:
    client = emulator.client()
    created = client.v1.checkout.sessions.create(params=session_params())

    session = client.v1.checkout.sessions.retrieve(
        created.id, params={"expand": ["line_items", "payment_intent"]}
    )

    items = session.line_items
    assert items.object == "list"
    assert items.url == f"/v1/checkout/sessions/{created.id}/line_items"
    assert [(i.description, i.quantity, i.amount_total) for i in items.data] == [
        ("Tea towel", 2, 2500),
        ("Mug", 1, 499),
    ]
    assert items.data[0].object == "item"
    assert items.data[0].id.startswith("li_")
    assert items.data[0].price.unit_amount == 1250
    assert session.payment_intent is None

    first = client.v1.checkout.sessions.line_items.list(created.id, params={"limit": 1})
    assert first.has_more is True
    rest = client.v1.checkout.sessions.line_items.list(
        created.id, params={"starting_after": first.data[0].id}
    )
    assert [i.description for i in rest.data] == ["Mug"]
    assert rest.has_more is False


def test_currency_is_lowercased_and_unit_amounts_add_up(emulator: Emulator) -> None:
    params = session_params(
        line_items=[
            {
                "price_data": {
                    "currency": "USD",
                    "unit_amount": 333,
                    "product_data": {"name": "Pen"},
                },
                "quantity": 3,
            }
        ]
    )

    session = emulator.client().v1.checkout.sessions.create(params=params)

    assert (session.currency, session.amount_total) == ("usd", 999)


def test_list_filters_by_status_and_newest_first(emulator: Emulator) -> None:
    client = emulator.client()
    older = client.v1.checkout.sessions.create(params=session_params())
    newer = client.v1.checkout.sessions.create(params=session_params())
    client.v1.checkout.sessions.expire(older.id)

    everything = client.v1.checkout.sessions.list()
    open_only = client.v1.checkout.sessions.list(params={"status": "open"})

    assert [s.id for s in everything.data] == [newer.id, older.id]
    assert [s.id for s in open_only.data] == [newer.id]


def test_success_url_is_required(emulator: Emulator) -> None:
    params = session_params()
    del params["success_url"]

    with pytest.raises(stripe.InvalidRequestError) as caught:
        emulator.client().v1.checkout.sessions.create(params=params)

    assert caught.value.http_status == 400
    assert caught.value.code == "parameter_missing"
    assert caught.value.param == "success_url"


def test_line_items_are_required_in_payment_mode(emulator: Emulator) -> None:
    params = session_params()
    del params["line_items"]

    with pytest.raises(stripe.InvalidRequestError) as caught:
        emulator.client().v1.checkout.sessions.create(params=params)

    assert (caught.value.code, caught.value.param) == ("parameter_missing", "line_items")


# The emulator's clock runs on while the request travels, so an offset of exactly
# 30 minutes turns into 29:59 whenever a second ticks over in between. The accepted
# lower case keeps a few seconds of margin; the rejected cases only move further out.
@pytest.mark.parametrize(
    ("offset", "accepted"),
    [
        (29 * 60, False),
        (30 * 60 + 5, True),
        (3600, True),
        (24 * 3600, True),
        (24 * 3600 + 60, False),
    ],
)
def test_expires_at_must_be_between_30_minutes_and_24_hours_away(
    emulator: Emulator, offset: int, accepted: bool
) -> None:
    expires_at = emulator.now() + offset
    client = emulator.client()

    if accepted:
        session = client.v1.checkout.sessions.create(params=session_params(expires_at=expires_at))
        assert session.expires_at == expires_at
    else:
        with pytest.raises(stripe.InvalidRequestError) as caught:
            client.v1.checkout.sessions.create(params=session_params(expires_at=expires_at))
        assert caught.value.param == "expires_at"


def test_expires_at_bounds_follow_the_emulator_clock(emulator: Emulator) -> None:
    now = emulator.advance_clock(3 * 24 * 3600)

    session = emulator.client().v1.checkout.sessions.create(
        params=session_params(expires_at=now + 3600)
    )

    assert session.created == now


def test_unknown_parameters_are_rejected_like_stripe(emulator: Emulator) -> None:
    with pytest.raises(stripe.InvalidRequestError) as caught:
        emulator.client().v1.checkout.sessions.create(params=session_params(colour="blue"))

    assert (caught.value.code, caught.value.param) == ("parameter_unknown", "colour")


def test_quantity_is_required_per_line_item(emulator: Emulator) -> None:
    params = session_params()
    del params["line_items"][1]["quantity"]

    with pytest.raises(stripe.InvalidRequestError) as caught:
        emulator.client().v1.checkout.sessions.create(params=params)

    assert caught.value.param == "line_items[1][quantity]"


def test_totals_below_stripes_minimum_charge_are_refused(emulator: Emulator) -> None:
    params = session_params(
        line_items=[
            {
                "price_data": {"currency": "eur", "unit_amount": 10, "product_data": {"name": "X"}},
                "quantity": 1,
            }
        ]
    )

    with pytest.raises(stripe.InvalidRequestError) as caught:
        emulator.client().v1.checkout.sessions.create(params=params)

    assert caught.value.code == "amount_too_small"


def test_shipping_rate_data_adds_to_the_total(emulator: Emulator) -> None:
    shipping = {
        "shipping_rate_data": {
            "type": "fixed_amount",
            "display_name": "Parcel",
            "fixed_amount": {"amount": 490, "currency": "eur"},
        }
    }

    session = emulator.client().v1.checkout.sessions.create(
        params=session_params(shipping_options=[shipping])
    )

    assert session.amount_subtotal == 2999
    assert session.amount_total == 2999 + 490
    assert session.total_details.amount_shipping == 490
    assert session.shipping_cost.amount_total == 490

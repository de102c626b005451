"""Authentication, account isolation, error shapes and the headers every response carries."""

from __future__ import annotations

import pytest
import stripe
from integration.emulator.emulator_kit import Emulator, raw_request, session_params


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Bearer pk_test_abc",
        "Token sk_test_x",
        "Basic !!not-base64!!",
        "Basic Og==",  # ":": no user name
        "Basic cGtfdGVzdF9hYmM6",  # "pk_test_abc:"
    ],
)
def test_missing_or_malformed_keys_get_401(emulator: Emulator, authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}

    response = raw_request("GET", f"{emulator.url}/v1/checkout/sessions", headers=headers)

    assert response.status == 401
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert "api key" in error["message"].lower()
    assert response.headers["request-id"].startswith("req_")


@pytest.mark.parametrize("api_key", ["sk_live_abc123", "rk_test_abc", "garbage", "sk_test_"])
def test_the_sdk_raises_authentication_error_for_non_test_keys(
    emulator: Emulator, api_key: str
) -> None:
    with pytest.raises(stripe.AuthenticationError) as caught:
        emulator.client(api_key).v1.checkout.sessions.create(params=session_params())

    assert caught.value.http_status == 401
    assert caught.value.request_id.startswith("req_")


def test_auth_failures_store_nothing_under_the_key(emulator: Emulator) -> None:
    with pytest.raises(stripe.AuthenticationError):
        emulator.client("sk_live_nope").v1.checkout.sessions.create(
            params=session_params(), options={"idempotency_key": "k-auth"}
        )

    session = emulator.client().v1.checkout.sessions.create(
        params=session_params(client_reference_id="other"), options={"idempotency_key": "k-auth"}
    )

    assert session.client_reference_id == "other"


def test_each_test_key_is_an_isolated_account(emulator: Emulator) -> None:
    shop_a = emulator.client("sk_test_shop_a")
    shop_b = emulator.client("sk_test_shop_b")
    session = shop_a.v1.checkout.sessions.create(params=session_params())
    emulator.complete(session.id)
    intent_id = shop_a.v1.checkout.sessions.retrieve(session.id).payment_intent

    with pytest.raises(stripe.InvalidRequestError) as caught:
        shop_b.v1.checkout.sessions.retrieve(session.id)
    with pytest.raises(stripe.InvalidRequestError) as intent_error:
        shop_b.v1.payment_intents.retrieve(intent_id)
    with pytest.raises(stripe.InvalidRequestError):
        shop_b.v1.refunds.create(params={"payment_intent": intent_id})

    assert caught.value.http_status == 404
    assert caught.value.code == "resource_missing"
    assert caught.value.param == "id"
    assert caught.value.user_message == f"No such checkout.session: '{session.id}'"
    assert intent_error.value.http_status == 404
    assert shop_b.v1.checkout.sessions.list().data == []
    assert shop_b.v1.events.list().data == []
    state = emulator.state()["accounts"]
    assert state["sk_test_shop_a"]["checkout_sessions"] == 1
    assert state["sk_test_shop_b"]["checkout_sessions"] == 0


def test_errors_have_stripes_shape(emulator: Emulator) -> None:
    response = raw_request(
        "GET",
        f"{emulator.url}/v1/checkout/sessions/cs_test_missing",
        headers={"Authorization": "Bearer sk_test_kassa"},
    )

    assert response.status == 404
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {
        "error": {
            "code": "resource_missing",
            "doc_url": "https://stripe.com/docs/error-codes/resource-missing",
            "message": "No such checkout.session: 'cs_test_missing'",
            "param": "id",
            "type": "invalid_request_error",
        }
    }


def test_unknown_urls_are_stripe_404s(emulator: Emulator) -> None:
    with pytest.raises(stripe.InvalidRequestError) as caught:
        emulator.client().raw_request("get", "/v1/subscriptions")

    assert caught.value.http_status == 404
    assert "Unrecognized request URL" in caught.value.user_message


def test_every_response_carries_a_request_id(emulator: Emulator) -> None:
    session = emulator.client().v1.checkout.sessions.create(
        params=session_params(), options={"idempotency_key": "k-echo"}
    )

    page = raw_request("GET", session.url)
    control = emulator.control("GET", "/state")

    assert session.last_response.request_id.startswith("req_")
    assert session.last_response.idempotency_key == "k-echo"
    assert session.last_response.headers["Stripe-Version"] == stripe.api_version
    assert page.headers["request-id"].startswith("req_")
    assert control.headers["request-id"].startswith("req_")


def test_card_declines_through_an_injected_402_raise_card_error(emulator: Emulator) -> None:
    emulator.inject(method="POST", path_prefix="/v1/checkout/sessions", status=402)

    with pytest.raises(stripe.CardError) as caught:
        emulator.client().v1.checkout.sessions.create(params=session_params())

    assert caught.value.code == "card_declined"

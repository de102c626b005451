"""Explicit accounts, HTTP Basic auth and the Stripe-Version check, as Stripe does them."""

from __future__ import annotations

import base64
from typing import Any

import pytest
import stripe
from integration.emulator.emulator_kit import Emulator, raw_request, session_params

from stripe_emulator import EmulatorServer, defaults


def basic(user: str, password: str = "") -> dict[str, str]:
    """The header `curl -u user:password` sends."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def accounts(emulator: Emulator, path: str = "", **body: Any) -> dict[str, Any]:
    response = emulator.control("POST", f"/accounts{path}", body)
    assert response.status == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def test_basic_auth_with_the_key_as_user_name_is_the_same_account(emulator: Emulator) -> None:
    session = emulator.client("sk_test_curl").v1.checkout.sessions.create(params=session_params())

    listed = raw_request(
        "GET", f"{emulator.url}/v1/checkout/sessions", headers=basic("sk_test_curl")
    )
    with_password = raw_request(
        "GET",
        f"{emulator.url}/v1/checkout/sessions/{session.id}",
        headers=basic("sk_test_curl", "x"),
    )

    assert listed.status == 200, listed.text
    assert [s["id"] for s in listed.json()["data"]] == [session.id]
    assert with_password.status == 200
    assert with_password.json()["id"] == session.id


def test_a_never_issued_key_gets_401_once_auto_create_is_off(emulator: Emulator) -> None:
    emulator.client("sk_test_kassa").v1.customers.list()
    assert accounts(emulator, "/auto_create", enabled=False) == {
        "auto_create": False,
        "accounts": ["sk_test_kassa"],
    }

    with pytest.raises(stripe.AuthenticationError) as caught:
        emulator.client("sk_test_kassa_typo").v1.checkout.sessions.create(
            params=session_params(), options={"idempotency_key": "k-typo"}
        )
    by_curl = raw_request(
        "GET", f"{emulator.url}/v1/customers", headers=basic("sk_test_kassa_typo")
    )

    assert caught.value.http_status == 401
    assert caught.value.user_message.startswith("Invalid API Key provided: sk_test_******typo.")
    assert caught.value.request_id.startswith("req_")
    assert by_curl.status == 401
    assert by_curl.json()["error"]["type"] == "invalid_request_error"
    assert "sk_test_kassa_typo" not in emulator.state()["accounts"]
    assert emulator.client("sk_test_kassa").v1.customers.list().data == []


def test_a_registered_key_authenticates_without_auto_create(emulator: Emulator) -> None:
    accounts(emulator, "/auto_create", enabled=False)

    registered = accounts(emulator, api_key="sk_test_shop_b")
    again = accounts(emulator, api_key="sk_test_shop_b")
    session = emulator.client("sk_test_shop_b").v1.checkout.sessions.create(params=session_params())

    assert registered == again == {"auto_create": False, "accounts": ["sk_test_shop_b"]}
    assert session.id.startswith("cs_test_")
    assert emulator.count("sk_test_shop_b", "checkout_sessions") == 1


@pytest.mark.parametrize("api_key", ["sk_live_abc", "pk_test_abc", "sk_test_", ""])
def test_only_test_secret_keys_can_be_registered(emulator: Emulator, api_key: str) -> None:
    response = emulator.control("POST", "/accounts", {"api_key": api_key})

    assert response.status == 400
    assert response.json()["error"]["code"] == "invalid_body"
    assert emulator.control("GET", "/accounts").json()["accounts"] == []


def test_reset_forgets_registered_keys_and_restores_auto_create(emulator: Emulator) -> None:
    accounts(emulator, "/auto_create", enabled=False)
    accounts(emulator, api_key="sk_test_shop_b")

    emulator.reset()

    assert emulator.control("GET", "/accounts").json() == {"auto_create": True, "accounts": []}


@pytest.mark.parametrize("configured", ["arg", "env"])
def test_auto_create_can_be_off_from_the_start(
    monkeypatch: pytest.MonkeyPatch, configured: str
) -> None:
    if configured == "env":
        monkeypatch.setenv(defaults.ENV_AUTO_ACCOUNTS, "0")
    server = EmulatorServer(auto_accounts=False) if configured == "arg" else EmulatorServer()
    with server:
        emulator = Emulator(server)
        with pytest.raises(stripe.AuthenticationError):
            emulator.client("sk_test_kassa").v1.customers.list()
        accounts(emulator, api_key="sk_test_kassa")
        assert emulator.client("sk_test_kassa").v1.customers.list().data == []
        emulator.reset()

        assert emulator.control("GET", "/accounts").json() == {"auto_create": False, "accounts": []}
        with pytest.raises(stripe.AuthenticationError):
            emulator.client("sk_test_kassa").v1.customers.list()


def test_a_malformed_auto_create_setting_stops_the_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(defaults.ENV_AUTO_ACCOUNTS, "maybe")

    with pytest.raises(ValueError, match=defaults.ENV_AUTO_ACCOUNTS):
        EmulatorServer()


def test_the_sdks_own_api_version_is_served(emulator: Emulator) -> None:
    customers = emulator.client().v1.customers.list()
    headerless = raw_request(
        "GET", f"{emulator.url}/v1/customers", headers={"Authorization": "Bearer sk_test_kassa"}
    )

    assert customers.last_response.headers["Stripe-Version"] == stripe.api_version
    assert headerless.status == 200
    assert headerless.headers["stripe-version"] == defaults.API_VERSION


@pytest.mark.parametrize("version", ["2099-01-01", "2020-08-27", "2026-10-28", "latest"])
def test_an_unknown_api_version_is_refused_and_stores_nothing(
    emulator: Emulator, version: str
) -> None:
    client = emulator.client(stripe_version=version)

    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.checkout.sessions.create(
            params=session_params(), options={"idempotency_key": "k-version"}
        )
    session = emulator.client().v1.checkout.sessions.create(
        params=session_params(client_reference_id="retried"),
        options={"idempotency_key": "k-version"},
    )

    assert caught.value.http_status == 400
    assert caught.value.user_message.startswith(f"Invalid Stripe API version: {version}.")
    assert caught.value.error is not None
    assert caught.value.error.type == "invalid_request_error"
    assert session.client_reference_id == "retried"
    assert emulator.count("sk_test_kassa", "checkout_sessions") == 1


def test_a_webhook_endpoint_takes_only_a_served_api_version(emulator: Emulator) -> None:
    client = emulator.client()
    endpoint = {"url": "http://shop.test/webhooks", "enabled_events": ["*"]}

    pinned = client.v1.webhook_endpoints.create(
        params={**endpoint, "api_version": stripe.api_version}
    )
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.webhook_endpoints.create(params={**endpoint, "api_version": "2019-02-19"})

    assert pinned.api_version == stripe.api_version
    assert caught.value.param == "api_version"
    assert caught.value.user_message.startswith("Invalid Stripe API version: 2019-02-19.")
    assert emulator.count("sk_test_kassa", "webhook_endpoints") == 1

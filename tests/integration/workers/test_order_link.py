"""Ownership that travels: the confirmation email's signed link opens the order on any
device by setting the HttpOnly order cookie, then lands on an address without the token.
Its powers are anchored to the order's creation: changes until the window ends, reading
for ``LINK_READ_DAYS``, however late the link is minted or opened."""

from __future__ import annotations

import re
from email import message_from_bytes
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from integration.workers.window_support import Bought, buy, use_capture_mode
from support import db

from checkout.fulfilment import order_token
from checkout.orders import LINK_READ_DAYS, order_link_token
from kassa.bootstrap import Container
from schemas.settings import Settings
from stripe_emulator.server import EmulatorServer
from workers.jobs import perform_row


def emailed_link(container: Container, settings: Settings, order: Bought) -> str:
    """Send the confirmation (the real outbox job) and read the link out of the mail."""
    row = db(container, "SELECT id FROM outbox WHERE kind = 'email.order_confirmation'")
    assert perform_row(container, row) == "done"
    (mail,) = Path(settings.mailbox_dir).glob("*.eml")
    text = message_from_bytes(mail.read_bytes(), policy=default).get_body(("plain",)).get_content()
    match = re.search(r"(http://\S+/orders/\S+/access\?token=[0-9a-f]{64})", text)
    assert match, text
    return match.group(1)


def open_link(browser: Any, link: str) -> Any:
    return browser.get(link.removeprefix("http://127.0.0.1:8000"))


def order_cookies(resp: Any) -> dict[str, str]:
    """The response's ``kassa_order`` Set-Cookie headers, by their Path."""
    found = {}
    for header in resp.headers.getlist("Set-Cookie"):
        if header.startswith("kassa_order="):
            path = re.search(r"; Path=([^;]+)", header)
            assert path, header
            found[path.group(1)] = header
    return found


def link_to(settings: Settings, order: Bought) -> str:
    """The path of the order's emailed link, as the outbox job writes it."""
    return f"/orders/{order.reference}/access?token=" + order_link_token(
        settings.secret_key, order.order_id
    )


def test_the_email_link_opens_the_order_in_another_browser(
    client: Any,
    app: Any,
    container: Container,
    settings: Settings,
    emulator: EmulatorServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    use_capture_mode(container, "delayed")
    order = buy(client, container, emulator.url, {"MUG-WHITE": 2})
    link = emailed_link(container, settings, order)
    token = link.rpartition("token=")[2]

    phone = app.test_client()
    assert phone.get(f"/orders/{order.reference}").status_code == 404  # not yet its owner
    opened = open_link(phone, link)
    assert opened.status_code == 303
    assert opened.headers["Location"] == f"/orders/{order.reference}"  # no token left
    assert opened.headers["Referrer-Policy"] == "no-referrer"
    assert opened.headers["Cache-Control"] == "no-store"
    cookies = order_cookies(opened)
    assert set(cookies) == {f"/orders/{order.reference}", f"/api/orders/{order.reference}"}
    for cookie in cookies.values():
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
        assert token not in cookie  # the link's token is only ever exchanged, never the cookie

    page = phone.get(f"/orders/{order.reference}")
    assert page.status_code == 200 and b'data-testid="cancel-order"' in page.data
    assert token.encode() not in page.data
    shop = {"X-Shop-Id": "demo"}
    mug = next(
        ln["id"] for ln in phone.get(f"/api/orders/{order.reference}", headers=shop).json["lines"]
    )
    changed = phone.patch(
        f"/api/orders/{order.reference}/lines/{mug}", json={"quantity": 1}, headers=shop
    )
    assert changed.status_code == 200 and changed.json["total"] == 1200 + 500

    # The header works as well as the cookie, from a third client with no cookies at all.
    api = app.test_client()
    own = {**shop, "X-Modification-Token": order_token(settings.secret_key, order.order_id)}
    assert api.get(f"/api/orders/{order.reference}", headers=own).status_code == 200
    # The link's token is single-purpose: it is not an order token.
    as_header = {**shop, "X-Modification-Token": token}
    assert api.get(f"/api/orders/{order.reference}", headers=as_header).status_code == 404
    assert open_link(api, link.replace(token, "0" * 64)).status_code == 404

    logged = caplog.text + str([r.__dict__ for r in caplog.records])
    assert token not in logged
    assert own["X-Modification-Token"] not in logged  # the order token (the cookie's value)


def test_a_link_opened_after_the_window_reads_but_cannot_change(
    client: Any, app: Any, container: Container, settings: Settings, emulator: EmulatorServer
) -> None:
    use_capture_mode(container, "delayed")
    order = buy(client, container, emulator.url, {"MUG-WHITE": 2})
    order.close_window()
    late = link_to(settings, order)  # minted now, long after: the window is still the order's
    browser = app.test_client()
    assert browser.get(late).status_code == 303
    view = browser.get(f"/api/orders/{order.reference}", headers={"X-Shop-Id": "demo"}).json
    assert (view["modification_allowed"], view["remaining_seconds"]) == (False, 0)
    cancel = browser.post(f"/api/orders/{order.reference}/cancel", headers={"X-Shop-Id": "demo"})
    assert (cancel.status_code, cancel.json["error"]["code"]) == (409, "window_closed")
    page = browser.get(f"/orders/{order.reference}")
    assert page.status_code == 200 and b'data-testid="cancel-order"' not in page.data

    db(
        container,
        "UPDATE orders SET created_at = now() - make_interval(days => %s) WHERE id = %s"
        " RETURNING id",
        LINK_READ_DAYS,
        order.order_id,
    )
    expired = app.test_client().get(late)
    assert expired.status_code == 404
    assert not [c for c in expired.headers.getlist("Set-Cookie") if c.startswith("kassa_order=")]


def form_token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found
    return found.group(1)


def test_the_order_page_changes_the_order_through_its_forms(
    client: Any, container: Container, emulator: EmulatorServer
) -> None:
    use_capture_mode(container, "delayed")
    order = buy(client, container, emulator.url, {"MUG-WHITE": 2, "STICKERS": 1})
    page = client.get(f"/orders/{order.reference}").get_data(as_text=True)
    assert 'data-testid="remaining"' in page and "reserved on your card" in page
    csrf = form_token(page)
    mug = order.line_id("MUG-WHITE")
    base = f"/orders/{order.reference}"

    refused = client.post(f"{base}/lines/{mug}", data={"quantity": "1"})
    assert refused.status_code == 403  # no CSRF token, no change
    lowered = client.post(f"{base}/lines/{mug}", data={"quantity": "1", "csrf_token": csrf})
    assert lowered.status_code == 303 and lowered.headers["Location"] == base
    assert "Your order is updated." in client.get(base).get_data(as_text=True)
    raised = client.post(f"{base}/lines/{mug}", data={"quantity": "5", "csrf_token": csrf})
    assert raised.status_code == 303  # post/redirect/get, failures included
    assert "only get cheaper" in client.get(raised.headers["Location"]).get_data(as_text=True)
    typo = client.post(f"{base}/lines/{mug}", data={"quantity": "two", "csrf_token": csrf})
    assert typo.status_code == 303
    assert "A quantity is a whole number from 0 to 999." in client.get(base).get_data(as_text=True)
    bad = client.post(f"{base}/address", data={"line1": "x", "csrf_token": csrf})
    assert bad.status_code == 303
    assert "two-letter country code" in client.get(base).get_data(as_text=True)
    moved = client.post(
        f"{base}/address",
        data={
            "line1": "9 Form Road",
            "city": "Formby",
            "postal_code": "F1 1FF",
            "country": "GB",
            "csrf_token": csrf,
        },
    )
    assert moved.status_code == 303
    view = order.get().get_json()
    assert view["total"] == 1200 + 300 + 500 and view["shipping_address"]["city"] == "Formby"

    assert client.post(f"{base}/cancel", data={"csrf_token": csrf}).status_code == 303
    after = client.get(base).get_data(as_text=True)
    assert 'data-testid="order-status">cancelled' in after and "cancel-order" not in after


def test_the_openapi_document_names_the_changes_and_their_errors(client: Any) -> None:
    spec = client.get("/openapi.json").get_json()
    paths = spec["paths"]
    assert set(paths["/api/orders/{reference}/cancel"]["post"]["responses"]) >= {
        "200",
        "401",
        "404",
        "409",
    }
    line = paths["/api/orders/{reference}/lines/{line_id}"]["patch"]
    assert "amount_increase_not_allowed" in line["responses"]["409"]["description"]
    assert "window_closed" in line["responses"]["409"]["description"]
    assert "QuantityInput" in str(line["requestBody"])
    assert "AddressInput" in str(paths["/api/orders/{reference}/address"]["put"]["requestBody"])
    add = paths["/api/orders/{reference}/lines"]["post"]
    assert "CheckoutResponse" in str(add["responses"]["201"])
    assert "window_closing" in add["responses"]["409"]["description"]
    headers = {p["name"] for p in line["parameters"]}
    assert {"Idempotency-Key", "X-Modification-Token", "X-Shop-Id"} <= headers


def test_one_browser_keeps_every_order_it_bought(
    client: Any, app: Any, container: Container, settings: Settings, emulator: EmulatorServer
) -> None:
    """Each order's cookie lives at that order's own paths: a second purchase in the same
    browser (the status endpoint hands over its cookie) leaves the first one's alone."""
    use_capture_mode(container, "delayed")
    first = buy(client, container, emulator.url, {"MUG-WHITE": 1, "STICKERS": 1})
    second = buy(client, container, emulator.url, {"MUG-WHITE": 2})

    for order in (first, second):
        assert order.get().status_code == 200
        assert client.get(f"/orders/{order.reference}").status_code == 200
    assert first.cancel().get_json()["status"] == "cancelled"
    lowered = second.set_quantity(second.line_id("MUG-WHITE"), 1)
    assert lowered.status_code == 200 and lowered.get_json()["total"] == 1200 + 500
    assert first.get().get_json()["status"] == "cancelled"  # and still readable after
    assert 'data-testid="cancel-order"' in client.get(f"/orders/{second.reference}").text
    assert client.get("/api/orders/K-NOSUCH00", headers=first.headers).status_code == 401

    stranger = app.test_client()
    assert stranger.get(f"/api/orders/{first.reference}", headers=first.headers).status_code == 401
    stranger.set_cookie("kassa_order", "0" * 64)  # a cookie, but for no order of theirs
    for order in (first, second):
        assert stranger.get(f"/orders/{order.reference}").status_code == 404
        api = f"/api/orders/{order.reference}"
        assert stranger.get(api, headers=order.headers).status_code == 404
        assert stranger.post(f"{api}/cancel", headers=order.headers).status_code == 404
    token = order_token(settings.secret_key, second.order_id)
    own = {**second.headers, "X-Modification-Token": token}
    assert stranger.get(f"/api/orders/{second.reference}", headers=own).status_code == 200


def test_links_to_two_orders_open_both_in_one_browser(
    client: Any, app: Any, container: Container, settings: Settings, emulator: EmulatorServer
) -> None:
    """Opening a second order's emailed link leaves the first order's access in place, and
    a root-path cookie left by an older release shadows neither of them."""
    use_capture_mode(container, "immediate")
    first = buy(client, container, emulator.url, {"MUG-WHITE": 2})
    second = buy(client, container, emulator.url, {"MUG-WHITE": 1, "STICKERS": 2})
    phone = app.test_client()
    # An older release's cookie for the second order at Path=/, sent before the others.
    phone.set_cookie("kassa_order", order_token(settings.secret_key, second.order_id))

    opened = phone.get(link_to(settings, first))
    assert opened.status_code == 303 and "/" not in order_cookies(opened)
    assert phone.get(link_to(settings, second)).status_code == 303
    for order in (first, second):
        page = phone.get(f"/orders/{order.reference}")
        assert page.status_code == 200 and b'data-testid="cancel-order"' in page.data

    shop = first.headers
    mug = first.line_id("MUG-WHITE")
    lowered = phone.patch(
        f"/api/orders/{first.reference}/lines/{mug}", json={"quantity": 1}, headers=shop
    )
    assert lowered.status_code == 200 and lowered.get_json()["total"] == 1200 + 500
    cancelled = phone.post(f"/api/orders/{second.reference}/cancel", headers=shop)
    assert cancelled.status_code == 200 and cancelled.get_json()["status"] == "cancelled"

    # Without the old root cookie, each order is still reached by its own cookie alone.
    phone.delete_cookie("kassa_order")
    for order in (first, second):
        assert phone.get(f"/api/orders/{order.reference}", headers=shop).status_code == 200

"""The server-rendered storefront: forms need their CSRF token and always end in a redirect
(post/redirect/get), the money is shown before the payment page in the shop's currency, and
every page says plainly what happened. Real Postgres, Redis and Stripe emulator throughout."""

from __future__ import annotations

import re
from typing import Any

import pytest
from support import CANARY_CUSTOMER, db, inject_fault, pay

from kassa.bootstrap import Container
from ops.seed import seed_shop_in
from schemas.records import InventoryLevel
from schemas.settings import Settings


@pytest.fixture
def storefront_shop() -> str:
    return "demo"


@pytest.fixture
def settings(base_settings: Settings, storefront_shop: str) -> Settings:
    return base_settings.model_copy(update={"storefront_shop": storefront_shop})


@pytest.fixture(autouse=True)
def seeded(container: Container, storefront_shop: str) -> None:
    with container.uow() as uow:
        seed_shop_in(
            uow,
            storefront_shop,
            container.settings,
            currency="jpy" if storefront_shop == "tokyo" else "usd",
        )


def token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found
    return found.group(1)


def text(resp: Any) -> str:
    return str(resp.get_data(as_text=True))


def submit(client: Any, path: str, **form: str) -> Any:
    """Post a storefront form with the page's CSRF token, as the browser does."""
    form_token = token(text(client.get("/")))
    return client.post(path, data={**form, "csrf_token": form_token})


def add(client: Any, sku: str, quantity: int = 1) -> Any:
    return submit(client, "/cart/add", sku=sku, quantity=str(quantity))


def test_pages_show_prices_from_the_catalog_and_send_no_referrer(client: Any) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert "$25.00" in text(page) and "colour=blue,size=M" in text(page)
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert page.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("storefront_shop", ["tokyo"])
def test_a_yen_shop_shows_yen_without_decimals(client: Any) -> None:
    page = text(client.get("/"))
    assert "¥1,500" in page and "¥2,800" in page
    assert "15.00" not in page and "JPY" not in page
    add(client, "TENUGUI-INDIGO", 2)
    cart = text(client.get("/cart"))
    assert re.search(r'data-testid="total">¥3,600<', cart)  # 2 x 1,500 + 600 shipping


def test_a_form_without_its_token_changes_nothing(client: Any, container: Container) -> None:
    refused = client.post("/cart/add", data={"sku": "MUG-WHITE", "quantity": "1"})
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "csrf_failed"
    forged = client.post("/cart/add", data={"sku": "MUG-WHITE", "quantity": "1", "csrf_token": "x"})
    assert forged.status_code == 403
    assert "kassa_cart" not in (refused.headers.get("Set-Cookie") or "")


def test_adding_redirects_and_the_notice_names_the_sku_and_variant(client: Any) -> None:
    added = add(client, "MUG-WHITE", 2)
    assert added.status_code == 303 and added.headers["Location"] == "/"
    [flash_cookie] = [c for c in added.headers.getlist("Set-Cookie") if "kassa_flash=" in c]
    assert "HttpOnly" in flash_cookie and "SameSite=Lax" in flash_cookie
    page = text(client.get("/"))
    assert "Added MUG-WHITE to your cart: 2 x Enamel mug (colour=white)." in page
    assert "Added MUG-WHITE" not in text(client.get("/"))  # said once, not on every visit
    assert 'data-testid="cart-link">Cart (2)<' in page
    cart = text(client.get("/cart"))
    assert "Enamel mug (colour=white)" in cart and "$24.00" in cart
    assert "Standard" in cart and "Pick up in store" in cart  # shipping options from the catalog


def test_adding_an_unknown_sku_redirects_with_the_reason(client: Any) -> None:
    refused = add(client, "NO-SUCH-THING")
    assert refused.status_code == 303 and refused.headers["Location"] == "/"
    page = text(client.get("/"))
    assert "Could not add NO-SUCH-THING: No such product in this shop." in page
    assert "Cart (" not in page


def test_odd_quantities_and_unknown_lines_are_explained(client: Any) -> None:
    add(client, "MUG-WHITE", 999)
    client.get("/")
    submit(client, "/cart/add", sku="MUG-WHITE", quantity="lots")  # read as one
    assert "A cart line can hold at most 999 units." in text(client.get("/"))
    gone = submit(client, "/cart/lines/MUG-WHITE.0000000000", quantity="2")
    assert gone.status_code == 303 and gone.headers["Location"] == "/cart"
    cart = text(client.get("/cart"))
    assert "No such line in the cart." in cart and 'value="999"' in cart


def test_a_token_from_another_browser_is_refused(app: Any) -> None:
    alice, mallory = app.test_client(), app.test_client()
    stolen = token(text(mallory.get("/")))
    alice.get("/")
    resp = alice.post("/cart/add", data={"sku": "MUG-WHITE", "quantity": "1", "csrf_token": stolen})
    assert resp.status_code == 403


def test_the_cart_shows_shipping_discount_and_total_before_payment(client: Any) -> None:
    add(client, "MUG-WHITE", 2)
    cart = text(client.get("/cart"))
    assert re.search(r'data-testid="subtotal">\$24\.00<', cart)
    assert re.search(r"Shipping \(Standard\)</dt><dd data-testid=\"shipping\">\$5\.00<", cart)
    assert re.search(r'data-testid="total">\$29\.00<', cart)

    quoted = submit(
        client, "/checkout", action="quote", shipping_option_id="pickup", coupon="WELCOME10"
    )
    assert quoted.status_code == 303
    assert quoted.headers["Location"] == "/cart?shipping=pickup&coupon=WELCOME10"
    cart = text(client.get(quoted.headers["Location"]))
    assert re.search(r'data-testid="discount">-\$2\.40<', cart)  # 10 % of 24.00
    assert re.search(r'data-testid="total">\$21\.60<', cart)  # picked up: no shipping
    assert re.search(r'value="pickup" checked', cart) and 'value="WELCOME10"' in cart


def test_a_failed_checkout_redirects_to_the_cart_with_the_reason(
    client: Any, container: Container
) -> None:
    add(client, "MUG-WHITE")
    failed = submit(client, "/checkout", shipping_option_id="standard", coupon="BOGUS")
    assert failed.status_code == 303  # never a page rendered from a POST: Back stays safe
    assert failed.headers["Location"] == "/cart?shipping=standard"  # the bad coupon is dropped
    cart = client.get(failed.headers["Location"])
    assert cart.status_code == 200 and "No such coupon." in text(cart)
    assert "No such coupon." not in text(client.get("/cart"))  # a reload does not repeat it
    assert db(container, "SELECT count(*) FROM checkouts") == 0


def test_an_out_of_stock_checkout_names_the_sku(client: Any, container: Container) -> None:
    add(client, "POSTER-A2", 2)
    with container.uow() as uow:
        uow.inventory.set_level(
            "demo",
            InventoryLevel(sku="POSTER-A2", location="store", priority=2, on_hand=1, reserved=0),
        )
    failed = submit(client, "/checkout", shipping_option_id="standard")
    assert failed.status_code == 303
    cart = text(client.get(failed.headers["Location"]))
    assert "Not enough stock. POSTER-A2: you asked for 2, 1 left." in cart
    assert db(container, "SELECT count(*) FROM checkouts") == 0


def test_a_paid_checkout_shows_its_summary_and_the_spent_cart_is_gone(
    client: Any, container: Container, emulator: Any
) -> None:
    add(client, "TSHIRT-BLUE-L", 3)
    started = submit(client, "/checkout", shipping_option_id="standard")
    session_id = started.headers["Location"].rsplit("/", 1)[1]
    checkout_id = db(container, "SELECT id::text FROM checkouts")
    pay(emulator.url, session_id, customer=CANARY_CUSTOMER)

    page = client.get(f"/checkout/success?checkout_id={checkout_id}")
    html = text(page)
    reference = db(container, "SELECT reference FROM orders")
    assert page.status_code == 200 and 'data-state="fulfilled"' in html
    assert f"Your order {reference} is confirmed." in html
    assert 'data-testid="cart-link">Cart</a>' in html  # not "Cart (3)" while the worker lags
    assert any(c.startswith("kassa_cart=;") for c in page.headers.getlist("Set-Cookie"))
    assert "Kassa T-shirt (colour=blue,size=L)" in html and "$86.00" in html  # 3 x 27 + 5
    assert "7 Canary Row" in html and "Paid through Stripe." in html
    assert 'data-testid="cart-link">Cart</a>' in text(client.get("/"))

    order = text(client.get(f"/orders/{reference}"))  # the success page handed over the order
    assert "Kassa T-shirt (colour=blue,size=L)" in order and "TSHIRT-BLUE-L" in order
    assert re.search(r'data-testid="order-date">\d{1,2} \w{3} \d{4}, \d\d:\d\d UTC<', order)
    assert "Canaryville" in order and 'data-testid="order-total">$86.00<' in order


def test_a_stranger_opening_a_success_link_is_told_it_is_not_theirs(
    app: Any, container: Container, emulator: Any
) -> None:
    owner, stranger = app.test_client(), app.test_client()
    add(owner, "MUG-WHITE")
    submit(owner, "/checkout", shipping_option_id="standard")
    checkout_id = db(container, "SELECT id::text FROM checkouts")

    page = stranger.get(f"/checkout/success?checkout_id={checkout_id}")
    html = text(page)
    assert page.status_code == 404
    assert "only opens in the browser that placed the order" in html
    assert "confirming" not in html and "<script" not in html
    assert stranger.get("/checkout/success?checkout_id=not-a-uuid").status_code == 404
    assert "kassa_order" not in (page.headers.get("Set-Cookie") or "")


def test_a_declined_card_is_called_a_decline(
    client: Any, container: Container, emulator: Any
) -> None:
    add(client, "MUG-WHITE")
    started = submit(client, "/checkout", shipping_option_id="standard")
    session_id = started.headers["Location"].rsplit("/", 1)[1]
    checkout_id = db(container, "SELECT id::text FROM checkouts")
    pay(emulator.url, session_id, outcome="declined")

    back = client.get(f"/cart?cancelled={checkout_id}")  # Stripe's cancel_url
    assert back.status_code == 303 and back.headers["Location"] == "/cart"
    cart = text(client.get("/cart"))
    assert "Your card was declined, so you have not been charged." in cart
    assert 'data-sku="MUG-WHITE"' in cart
    assert db(container, "SELECT state FROM checkouts") == "expired"


def test_coming_back_without_paying_is_not_called_a_decline(
    client: Any, container: Container, emulator: Any
) -> None:
    add(client, "MUG-WHITE")
    submit(client, "/checkout", shipping_option_id="standard")
    checkout_id = db(container, "SELECT id::text FROM checkouts")
    client.get(f"/cart?cancelled={checkout_id}")
    cart = text(client.get("/cart"))
    assert "Payment was not completed." in cart and "declined" not in cart


def test_a_cancel_link_for_someone_elses_checkout_changes_nothing(
    app: Any, container: Container, emulator: Any
) -> None:
    owner, stranger = app.test_client(), app.test_client()
    add(owner, "MUG-WHITE")
    submit(owner, "/checkout", shipping_option_id="standard")
    checkout_id = db(container, "SELECT id::text FROM checkouts")
    back = stranger.get(f"/cart?cancelled={checkout_id}")
    assert back.status_code == 303 and back.headers["Location"] == "/cart"
    assert 'data-testid="notice"' not in text(stranger.get("/cart"))
    assert db(container, "SELECT state FROM checkouts") == "open"


def test_when_stripe_cannot_say_why_no_decline_is_claimed(
    client: Any, container: Container, emulator: Any
) -> None:
    add(client, "MUG-WHITE")
    started = submit(client, "/checkout", shipping_option_id="standard")
    pay(emulator.url, started.headers["Location"].rsplit("/", 1)[1], outcome="declined")
    checkout_id = db(container, "SELECT id::text FROM checkouts")
    inject_fault(emulator.url, "/v1/checkout/sessions/", 500, count=20, method="GET")
    client.get(f"/cart?cancelled={checkout_id}")
    cart = text(client.get("/cart"))
    assert "Payment was not completed." in cart and "declined" not in cart
    assert db(container, "SELECT state FROM checkouts") == "expired"


def test_a_checkout_that_never_reached_stripe_is_released_when_its_shopper_comes_back(
    client: Any, container: Container, emulator: Any
) -> None:
    """The request died between committing the hold and calling Stripe: no session to
    expire and no payment to ask about, so the stock goes straight back and nobody is told
    of a decline."""
    add(client, "MUG-WHITE", 2)
    submit(client, "/checkout", shipping_option_id="standard")
    checkout_id = db(container, "SELECT id::text FROM checkouts")
    with container.uow() as uow:  # as the crash left it
        uow.conn.execute(
            "UPDATE checkouts SET state = 'pending', stripe_session_id = NULL,"
            " stripe_session_url = NULL"
        )
    reserved = "SELECT sum(reserved) FROM inventory_levels WHERE sku = 'MUG-WHITE'"
    assert db(container, reserved) == 2
    client.get(f"/cart?cancelled={checkout_id}")
    cart = text(client.get("/cart"))
    assert "Payment was not completed." in cart and "declined" not in cart
    assert db(container, "SELECT state FROM checkouts") == "expired"
    assert db(container, reserved) == 0


def test_an_emailed_link_to_an_order_that_does_not_exist_opens_nothing(client: Any) -> None:
    resp = client.get("/orders/K-NOSUCH00/access?token=" + "0" * 64)
    assert resp.status_code == 404
    assert "This order link is not valid or has expired." in text(resp)
    assert "kassa_order" not in resp.headers.get("Set-Cookie", "")


def test_a_second_purchase_in_the_same_browser_keeps_the_first_order_open(
    app: Any, client: Any, container: Container, emulator: Any
) -> None:
    """The success page hands over each order's cookie at that order's own paths, so the
    first order's page and forms still work after the second purchase."""
    references = []
    for sku in ("MUG-WHITE", "STICKERS"):
        add(client, sku)
        started = submit(client, "/checkout", shipping_option_id="standard")
        pay(emulator.url, started.headers["Location"].rsplit("/", 1)[1])
        checkout_id = db(container, "SELECT id::text FROM checkouts ORDER BY created_at DESC")
        page = client.get(f"/checkout/success?checkout_id={checkout_id}")
        assert 'data-state="fulfilled"' in text(page)
        reference = db(container, "SELECT reference FROM orders ORDER BY created_at DESC")
        cookies = [c for c in page.headers.getlist("Set-Cookie") if c.startswith("kassa_order=")]
        paths = {path for c in cookies for path in re.findall(r"; Path=([^;]+)", c)}
        assert len(cookies) == 2 and paths == {f"/orders/{reference}", f"/api/orders/{reference}"}
        references.append(reference)

    first, second = references
    assert sku in text(client.get(f"/orders/{second}"))
    page = text(client.get(f"/orders/{first}"))
    assert "MUG-WHITE" in page and 'data-testid="cancel-order"' in page
    cancelled = client.post(f"/orders/{first}/cancel", data={"csrf_token": token(page)})
    assert cancelled.status_code == 303 and cancelled.headers["Location"] == f"/orders/{first}"
    assert 'data-testid="order-status">cancelled' in text(client.get(f"/orders/{first}"))
    assert 'data-testid="cancel-order"' in text(client.get(f"/orders/{second}"))
    stranger = app.test_client()
    assert stranger.get(f"/orders/{first}").status_code == 404
    assert stranger.get(f"/orders/{second}").status_code == 404


def test_cookies_are_secure_when_the_public_url_is_https(app: Any, container: Container) -> None:
    """Behind a proxy that ends TLS the request reaching Kassa is plain HTTP, yet the browser
    speaks HTTPS: with an https public URL every cookie still carries Secure."""
    assert "Secure" not in app.test_client().get("/").headers["Set-Cookie"]  # all plain HTTP
    container.settings = container.settings.model_copy(
        update={"public_url": "https://shop.example"}
    )
    client = app.test_client()
    page = client.get("/")
    cart = client.post(
        "/api/cart/items",
        json={"sku": "MUG-WHITE", "quantity": 1},
        headers={"X-Shop-Id": "demo"},
    )
    assert cart.status_code == 200, cart.get_data(as_text=True)
    cookies = page.headers.getlist("Set-Cookie") + cart.headers.getlist("Set-Cookie")
    assert {c.split("=", 1)[0] for c in cookies} >= {"kassa_csrf", "kassa_cart"}
    assert all("; Secure" in c for c in cookies)

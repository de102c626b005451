"""The demo storefront: server-rendered pages over the same services as the JSON API.

Forms post here (with a CSRF token) and redirect; the success page polls the status API.
Nothing sensitive goes into URLs or localStorage, and every page sends no-referrer.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, current_app, make_response, redirect, render_template, request, url_for
from pydantic import ValidationError
from werkzeug.wrappers import Response

from checkout import carts, modifications
from checkout.errors import CheckoutNotFound, KassaError, OrderNotFound, Unauthorized
from checkout.fulfilment import order_token
from checkout.modifications import ChangeRequest
from checkout.money import format_amount
from checkout.orders import order_for_owner, redeem_order_link
from checkout.sessions import cancel_checkout, start_checkout
from checkout.status import owned_checkout
from schemas.cart import CartInput
from schemas.orders import AddressInput
from schemas.records import Shop
from web.context import container
from web.cookies import (
    CHECKOUT_COOKIE,
    ORDER_COOKIE,
    read_cart_id,
    set_cart_cookie,
    set_secure_cookie,
)
from web.csrf import attach_csrf_cookie, csrf_token, require_csrf
from web.errors import status_for
from web.orders import order_token_from_request

bp = Blueprint("storefront", __name__)

ADDRESS_FIELDS = ("line1", "line2", "city", "state", "postal_code", "country")


def _shop() -> Shop:
    c = container()
    with c.uow() as uow:
        shop = uow.shops.get(c.settings.storefront_shop)
    if shop is None:
        raise CheckoutNotFound(
            f"The storefront's shop {c.settings.storefront_shop!r} is not seeded."
        )
    return shop


def _page(template: str, shop: Shop, status: int = 200, **context: Any) -> Response:
    c = container()
    cart_id = read_cart_id(shop.id)
    count = sum(line.quantity for line in c.carts.lines(shop.id, cart_id)) if cart_id else 0
    html = render_template(
        template, shop=shop, cart_count=count, csrf_token=csrf_token(), **context
    )
    resp = make_response(html, status)
    resp.headers["Cache-Control"] = "no-store"
    return attach_csrf_cookie(resp)


@bp.app_template_filter("money")
def money_filter(amount: int, currency: str) -> str:
    return format_amount(amount, currency, currency_exponents()[currency])


def currency_exponents() -> dict[str, int]:
    """The currencies table, read once per process: it changes only with a migration."""
    ext = current_app.extensions
    if "kassa_exponents" not in ext:
        with container().uow() as uow:
            ext["kassa_exponents"] = uow.shops.currency_exponents()
    exponents: dict[str, int] = ext["kassa_exponents"]
    return exponents


@bp.get("/")
def index() -> Response:
    shop = _shop()
    added = request.args.get("added")
    return _page(
        "index.html",
        shop,
        products=carts.list_products(container(), shop).products,
        notice=f"Added {added} to your cart." if added else None,
    )


@bp.post("/cart/add")
def add() -> Response:
    require_csrf()
    shop, c = _shop(), container()
    cart_id = read_cart_id(shop.id) or c.carts.new_id()
    sku = request.form.get("sku", "")
    try:
        quantity = max(1, min(999, int(request.form.get("quantity", "1"))))
    except ValueError:
        quantity = 1
    carts.add_item(c, shop, cart_id, sku, quantity)
    resp = redirect(url_for("storefront.index", added=sku), 303)
    set_cart_cookie(resp, shop.id, cart_id, c.settings.cart_ttl_seconds)
    return resp


@bp.post("/cart/lines/<line_key>")
def update_line(line_key: str) -> Response:
    require_csrf()
    shop = _shop()
    try:
        quantity = max(0, min(999, int(request.form.get("quantity", "0"))))
    except ValueError:
        quantity = 0
    carts.set_quantity(container(), shop, read_cart_id(shop.id), line_key, quantity)
    return redirect("/cart", 303)


def _cart_page(shop: Shop, status: int = 200, **context: Any) -> Response:
    c = container()
    with c.uow() as uow:
        options = uow.catalog.shipping_options(shop.id)
    return _page(
        "cart.html",
        shop,
        status,
        cart=carts.view_cart(c, shop, read_cart_id(shop.id)),
        shipping_options=options,
        **context,
    )


@bp.get("/cart")
def cart() -> Response:
    shop = _shop()
    cancelled = request.args.get("cancelled")
    notice = None
    if cancelled:  # Stripe's cancel_url: the customer came back without paying
        try:
            checkout = owned_checkout(
                container(), shop, cancelled, request.cookies.get(CHECKOUT_COOKIE)
            )
            cancel_checkout(container(), shop, checkout)
            notice = "Payment was not completed. Your items are still in your cart."
        except CheckoutNotFound:
            pass
    return _cart_page(shop, notice=notice)


@bp.post("/checkout")
def checkout() -> Response:
    require_csrf()
    shop, c = _shop(), container()
    data = CartInput(
        shipping_option_id=request.form.get("shipping_option_id") or None,
        coupon=(request.form.get("coupon") or "").strip() or None,
    )
    try:
        result = start_checkout(c, shop, data, cart_id=read_cart_id(shop.id), client_key=None)
    except KassaError as exc:
        details = exc.details.get("lines", []) if isinstance(exc.details, dict) else []
        short = ", ".join(f"{d['sku']} (only {d['available']} left)" for d in details)
        return _cart_page(shop, status_for(exc), error=f"{exc.message} {short}".strip())
    resp = redirect(result.response.url, 303)
    set_secure_cookie(resp, CHECKOUT_COOKIE, result.nonce, max_age=2 * 24 * 3600)
    return resp


@bp.get("/checkout/success")
def success() -> Response:
    return _page("success.html", _shop(), checkout_id=request.args.get("checkout_id", ""))


@bp.get("/orders/<reference>")
def order(reference: str) -> Response:
    shop = _shop()
    try:
        view = order_for_owner(container(), shop, reference, order_token_from_request())
    except (OrderNotFound, Unauthorized):
        return _page("base.html", shop, 404, error="We could not find that order for this browser.")
    return _page("order.html", shop, order=view, notice=request.args.get("notice"))


@bp.get("/orders/<reference>/access")
def order_access(reference: str) -> Response:
    """The emailed link: exchange its token for the HttpOnly order cookie on this device,
    then land on the order page by an address without the token (and no Referer leaves)."""
    shop, c = _shop(), container()
    try:
        order, max_age = redeem_order_link(
            c, shop, reference, request.args.get("token", ""), datetime.now(UTC)
        )
    except OrderNotFound:
        return _page("base.html", shop, 404, error="This order link is not valid or has expired.")
    resp = redirect(url_for("storefront.order", reference=order.reference), 303)
    set_secure_cookie(resp, ORDER_COOKIE, order_token(c.settings.secret_key, order.id), max_age)
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _change(reference: str, notice: str, change: Callable[[ChangeRequest], object]) -> Response:
    """Run one change from an order-page form; errors re-render the page with the reason."""
    require_csrf()
    shop = _shop()
    req = ChangeRequest(shop, reference, order_token_from_request(), idempotency_key=None)
    try:
        change(req)
    except (OrderNotFound, Unauthorized):
        return _page("base.html", shop, 404, error="We could not find that order for this browser.")
    except KassaError as exc:
        view = order_for_owner(container(), shop, reference, req.token)
        return _page("order.html", shop, status_for(exc), order=view, error=exc.message)
    return redirect(url_for("storefront.order", reference=reference, notice=notice), 303)


@bp.post("/orders/<reference>/cancel")
def order_cancel(reference: str) -> Response:
    return _change(
        reference,
        "Your order is cancelled.",
        lambda req: modifications.cancel_order(container(), req),
    )


@bp.post("/orders/<reference>/address")
def order_address(reference: str) -> Response:
    form = {k: request.form.get(k, "").strip() or None for k in ADDRESS_FIELDS}
    try:
        address = AddressInput.model_validate(form)
    except ValidationError:
        shop = _shop()
        view = order_for_owner(container(), shop, reference, order_token_from_request())
        error = "Please fill in street, city, postal code and a two-letter country code."
        return _page("order.html", shop, 422, order=view, error=error)
    return _change(
        reference,
        "Your shipping address is updated.",
        lambda req: modifications.change_address(container(), req, address),
    )


@bp.post("/orders/<reference>/lines/<int:line_id>")
def order_line(reference: str, line_id: int) -> Response:
    try:
        quantity = int(request.form.get("quantity", ""))
    except ValueError:
        quantity = -1  # refused below with the domain's own message
    return _change(
        reference,
        "Your order is updated.",
        lambda req: modifications.set_line_quantity(container(), req, line_id, quantity),
    )

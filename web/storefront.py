"""The demo storefront: server-rendered pages over the same services as the JSON API.

Every form posts (with a CSRF token) and redirects, failures included, with the outcome
flashed for the next page: Back and Reload never ask to resubmit a form (post/redirect/get).
Pages work without JavaScript; only the success page's status polling uses it. Nothing
sensitive goes into URLs or localStorage, and every page sends no-referrer.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flask import (
    Blueprint,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from pydantic import ValidationError
from werkzeug.wrappers import Response

from checkout import carts, modifications, receipt, shops
from checkout.declines import was_declined
from checkout.errors import CheckoutNotFound, KassaError, OrderNotFound, Unauthorized
from checkout.fulfilment import order_token
from checkout.modifications import ChangeRequest
from checkout.money import format_amount
from checkout.orders import order_for_owner, redeem_order_link
from checkout.pricing import variant_of
from checkout.sessions import cancel_checkout, start_checkout
from checkout.shops import shop_by_id
from checkout.status import checkout_status, owned_checkout
from checkout.validation import validate
from schemas.api import MAX_BIGINT
from schemas.cart import CartInput
from schemas.orders import AddressInput, OrderView
from schemas.records import Shop, with_variant
from web.context import container
from web.cookies import (
    CART_COOKIE,
    CHECKOUT_COOKIE,
    read_cart_id,
    set_cart_cookie,
    set_order_cookie,
    set_secure_cookie,
)
from web.csrf import attach_csrf_cookie, csrf_token, require_csrf
from web.orders import order_tokens_from_request

bp = Blueprint("storefront", __name__)

DECLINED = (
    "Your card was declined, so you have not been charged. Your items are still in your "
    "cart: try again with another card."
)
NOT_COMPLETED = "Payment was not completed. Your items are still in your cart."
ADDRESS_FIELDS = ("line1", "line2", "city", "state", "postal_code", "country")


def _shop() -> Shop:
    c = container()
    shop = shop_by_id(c, c.settings.storefront_shop)
    if shop is None:
        raise CheckoutNotFound(
            f"The storefront's shop {c.settings.storefront_shop!r} is not seeded."
        )
    return shop


def _page(
    template: str, shop: Shop, status: int = 200, *, cart_count: int | None = None, **context: Any
) -> Response:
    if cart_count is None:
        cart_id = read_cart_id(shop.id)
        lines = container().carts.lines(shop.id, cart_id) if cart_id else []
        cart_count = sum(line.quantity for line in lines)
    html = render_template(
        template, shop=shop, cart_count=cart_count, csrf_token=csrf_token(), **context
    )
    resp = make_response(html, status)
    resp.headers["Cache-Control"] = "no-store"
    return attach_csrf_cookie(resp)


@bp.app_template_filter("money")
def money_filter(amount: int, currency: str) -> str:
    return format_amount(amount, currency, currency_exponents()[currency])


@bp.app_template_filter("placed_on")
def placed_on_filter(order: OrderView) -> str:
    return receipt.placed_on(order.created_at, order.currency)


@bp.app_template_global("payment_note")
def payment_note(order: OrderView) -> str:
    return receipt.payment_note(order.status, order.refunded_amount)


@bp.app_template_global("address_lines")
def address_lines(order: OrderView) -> list[str]:
    return receipt.address_lines(order.customer_name, order.shipping_address)


def currency_exponents() -> dict[str, int]:
    """The currencies table, read once per process: it changes only with a migration."""
    ext = current_app.extensions
    if "kassa_exponents" not in ext:
        ext["kassa_exponents"] = shops.currency_exponents(container())
    exponents: dict[str, int] = ext["kassa_exponents"]
    return exponents


def _back_to(endpoint: str, **params: str | None) -> Response:
    """303 to a page (query parameters that are None are left out): the end of every POST."""
    # Any: url_for types its own options (_external, ...), so a dict[str, str] would not do.
    query: dict[str, Any] = {k: v for k, v in params.items() if v}
    return redirect(url_for(endpoint, **query), 303)


def _quantity(default: int, lowest: int) -> int:
    try:
        return max(lowest, min(999, int(request.form.get("quantity", str(default)))))
    except ValueError:
        return default


@bp.get("/")
def index() -> Response:
    shop = _shop()
    return _page("index.html", shop, products=carts.list_products(container(), shop).products)


@bp.post("/cart/add")
def add() -> Response:
    require_csrf()
    shop, c = _shop(), container()
    cart_id = read_cart_id(shop.id) or c.carts.new_id()
    sku, quantity = request.form.get("sku", "")[:64], _quantity(1, 1)
    try:
        product = carts.add_item(c, shop, cart_id, sku, quantity)
    except KassaError as exc:
        flash(f"Could not add {sku or 'that item'}: {exc.message}", "error")
        return _back_to("storefront.index")
    label = with_variant(product.name, variant_of(product))
    flash(f"Added {sku} to your cart: {quantity} x {label}.", "notice")
    resp = _back_to("storefront.index")
    set_cart_cookie(resp, shop.id, cart_id, c.settings.cart_ttl_seconds)
    return resp


@bp.post("/cart/lines/<line_key>")
def update_line(line_key: str) -> Response:
    require_csrf()
    shop = _shop()
    sku = line_key.rpartition(".")[0] or line_key
    quantity = _quantity(0, 0)
    try:
        carts.set_quantity(container(), shop, read_cart_id(shop.id), line_key, quantity)
    except KassaError as exc:
        flash(exc.message, "error")
        return _back_to("storefront.cart")
    flash(f"Removed {sku}." if quantity == 0 else f"Updated {sku} to {quantity}.", "notice")
    return _back_to("storefront.cart")


@bp.get("/cart")
def cart() -> Response:
    shop, c = _shop(), container()
    cancelled = request.args.get("cancelled")
    if cancelled:  # Stripe's cancel_url: the customer came back without paying
        _came_back(shop, cancelled)
        return _back_to("storefront.cart")
    cart_id = read_cart_id(shop.id)
    coupon = (request.args.get("coupon") or "").strip()[:64] or None
    quote = carts.quote_cart(c, shop, cart_id, request.args.get("shipping"), coupon)
    return _page(
        "cart.html",
        shop,
        cart=carts.view_cart(c, shop, cart_id),
        quote=quote,
        coupon=None if quote.coupon_rejected else coupon,
        error=f"The coupon {coupon} is not valid." if quote.coupon_rejected else None,
    )


def _came_back(shop: Shop, checkout_id: str) -> None:
    c = container()
    try:
        checkout = owned_checkout(c, shop, checkout_id, request.cookies.get(CHECKOUT_COOKIE))
    except CheckoutNotFound:
        return
    if cancel_checkout(c, shop, checkout) == "expired":
        if was_declined(c, shop, checkout):
            flash(DECLINED, "error")
        else:
            flash(NOT_COMPLETED, "notice")


def _problem(exc: KassaError) -> str:
    """A failed checkout in the shopper's words, naming the SKUs at fault."""
    lines = exc.details.get("lines", []) if isinstance(exc.details, dict) else []
    if lines:
        short = "; ".join(
            f"{d['sku']}: you asked for {d['requested']}, {d['available']} left" for d in lines
        )
        return f"Not enough stock. {short}. Change the quantities and try again."
    return exc.message


@bp.post("/checkout")
def checkout() -> Response:
    require_csrf()
    shop, c = _shop(), container()
    shipping = request.form.get("shipping_option_id") or None
    coupon = (request.form.get("coupon") or "").strip()[:64] or None
    if request.form.get("action") == "quote":  # "Update total": show the new total first
        return _back_to("storefront.cart", shipping=shipping, coupon=coupon)
    try:
        data = validate(CartInput, {"shipping_option_id": shipping, "coupon": coupon})
        result = start_checkout(c, shop, data, cart_id=read_cart_id(shop.id), client_key=None)
    except KassaError as exc:
        flash(_problem(exc), "error")
        kept = None if exc.code == "unknown_coupon" else coupon
        return _back_to("storefront.cart", shipping=shipping, coupon=kept)
    resp = redirect(result.response.url, 303)
    set_secure_cookie(resp, CHECKOUT_COOKIE, result.nonce, max_age=2 * 24 * 3600)
    return resp


@bp.get("/checkout/success")
def success() -> Response:
    """The outcome, rendered by the server; while it is open, a script polls and reloads.

    Only the browser holding the checkout's cookie sees it; anyone else is told so plainly.
    Once the order exists, the cart it came from is spent: the header stops counting it at
    once (the worker clears it in Redis a moment later) and this browser starts a new one.
    """
    shop, c = _shop(), container()
    checkout_id = request.args.get("checkout_id", "")
    try:
        checkout = owned_checkout(c, shop, checkout_id, request.cookies.get(CHECKOUT_COOKIE))
    except CheckoutNotFound:
        return _page("success.html", shop, 404, state="not_yours")
    status = checkout_status(c, shop, checkout)
    order = None
    if status.order is not None and status.order_id is not None:
        token = order_token(c.settings.secret_key, status.order_id)
        order = order_for_owner(c, shop, status.order.reference, (token,))
    spent = status.state == "fulfilled" and checkout.cart_id == read_cart_id(shop.id)
    resp = _page(
        "success.html",
        shop,
        cart_count=0 if spent else None,
        state=status.state,
        order=order,
        checkout_id=checkout_id,
    )
    if order is not None and status.order_id is not None:
        set_order_cookie(resp, status.order_id, order.reference)
    if spent:
        resp.delete_cookie(CART_COOKIE, path="/")
    return resp


@bp.get("/orders/<reference>")
def order(reference: str) -> Response:
    shop = _shop()
    try:
        view = order_for_owner(container(), shop, reference, order_tokens_from_request())
    except (OrderNotFound, Unauthorized):
        return _page("not_found.html", shop, 404)
    return _page("order.html", shop, order=view, editable=True)


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
        return _page("not_found.html", shop, 404, link_expired=True)
    resp = redirect(url_for("storefront.order", reference=order.reference), 303)
    set_order_cookie(resp, order.id, order.reference, max_age)
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _change(reference: str, notice: str, change: Callable[[ChangeRequest], object]) -> Response:
    """Run one change from an order-page form and go back to the order page, which says
    what happened (post/redirect/get, failures included)."""
    require_csrf()
    shop = _shop()
    req = ChangeRequest(shop, reference, order_tokens_from_request(), idempotency_key=None)
    try:
        change(req)
    except (OrderNotFound, Unauthorized):
        return _page("not_found.html", shop, 404)
    except KassaError as exc:
        flash(exc.message, "error")
    else:
        flash(notice, "notice")
    return _back_to("storefront.order", reference=reference)


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
        require_csrf()
        flash("Please fill in street, city, postal code and a two-letter country code.", "error")
        return _back_to("storefront.order", reference=reference)
    return _change(
        reference,
        "Your shipping address is updated.",
        lambda req: modifications.change_address(container(), req, address),
    )


@bp.post(f"/orders/<reference>/lines/<int(max={MAX_BIGINT}):line_id>")
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

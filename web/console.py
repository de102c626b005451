"""The merchant console: server-rendered pages over the merchant use cases.

Sign in with a shop's API key (or the operator token and a shop id) into a signed,
HttpOnly session cookie (``web/console_session.py``); then orders, stock and the outbox's
health. Every form carries a CSRF token and an idempotency key, and every write goes
through ``merchant.writes.perform`` like the JSON API's, so it is audited with the actor
and a double submit does it once. Plain HTML: no JavaScript needed, nothing in
localStorage, no secret in a URL.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast, get_args

from flask import Blueprint, g, make_response, redirect, render_template, request, url_for
from pydantic import JsonValue, ValidationError
from werkzeug.exceptions import HTTPException, TooManyRequests
from werkzeug.wrappers import Response

from checkout import outbox_admin
from checkout.errors import KassaError, OrderNotFound, Unauthorized
from checkout.money import parse_amount
from checkout.shops import shop_by_id
from merchant import orders as merchant_orders
from merchant.api_keys import PREFIX, authenticate
from merchant.stock import list_stock
from merchant.writes import Actor, Change, perform
from schemas.merchant_orders import FulfilRequest, MerchantOrder, RefundLine, RefundRequest
from schemas.records import OrderStatus
from web.admin_auth import MAX_IDEMPOTENCY_KEY, is_operator
from web.console_session import ConsoleSession, current_session, end_session, start_session
from web.context import container
from web.csrf import CsrfFailed, attach_csrf_cookie, csrf_token, require_csrf
from web.errors import status_for
from web.limits import client_ip, limited, retry_after_seconds
from web.storefront import currency_exponents

bp = Blueprint("console", __name__, url_prefix="/console")

LOGIN_LIMIT = "10/minute"
"""Sign-in attempts per client IP: a key cannot be guessed, but a flood costs lookups."""

ORDERS_PER_PAGE = 50

OPEN_ENDPOINTS = {"console.login", "console.login_form"}

NOTICES = {
    "refunded": "The refund is on its way to the customer's card.",
    "cancelled": "The order is cancelled; its stock is back and the payment released.",
    "shipped": "The order is marked shipped; the customer gets an email with the tracking reference.",
    "replayed": "The event is queued again; the workers will deliver it shortly.",
}


@bp.app_template_filter("utc")
def utc_filter(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def session() -> ConsoleSession:
    return cast(ConsoleSession, g.console)


@bp.before_request
def require_session() -> Response | None:
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    found = current_session()
    if found is None:
        resp = redirect(url_for("console.login_form"), 303)
        end_session(resp)
        return resp
    g.console = found
    return None


def page(template: str, status: int = 200, **context: Any) -> Response:
    """A console page: never cached (it shows one shop's private data), CSRF id attached."""
    found: ConsoleSession | None = g.get("console")
    notice = NOTICES.get(request.args.get("done", ""))
    html = render_template(
        template,
        session=found,
        shop=found.shop if found else None,
        csrf_token=csrf_token(),
        notice=notice,
        **context,
    )
    resp = make_response(html, status)
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["X-Frame-Options"] = "DENY"
    return attach_csrf_cookie(resp)


@bp.errorhandler(KassaError)
def kassa_error(exc: KassaError) -> Response:
    return page("console/message.html", status_for(exc), error=exc.message)


@bp.errorhandler(HTTPException)
def http_error(exc: HTTPException) -> Response:
    status = exc.code or 500
    message = exc.description or exc.name
    if status == 429:
        message = "Too many sign-in attempts from here; wait a minute and try again."
    resp = page("console/message.html", status, error=message)
    if isinstance(exc, TooManyRequests):
        resp.headers["Retry-After"] = str(retry_after_seconds(exc))
    return resp


def form_key() -> str:
    """A fresh idempotency key for each rendered form: submitting it twice (a double click,
    a reload after a lost answer) does the write once."""
    return secrets.token_urlsafe(16)


def write(action: str, subject: str | None, change: Change, details: dict[str, JsonValue]) -> None:
    """A form's write: CSRF-checked, once per form key, audited with the session's actor."""
    require_csrf()
    key = request.form.get("idempotency_key", "").strip() or None
    if key is not None and len(key) > MAX_IDEMPOTENCY_KEY:
        key = None
    fields = sorted((k, v) for k, v in request.form.items(multi=True) if k not in ("csrf_token",))
    fingerprint = hashlib.sha256(repr((request.method, request.path, fields)).encode()).hexdigest()
    perform(
        container(),
        session().actor,
        action,
        subject,
        change,
        idempotency_key=key,
        fingerprint=fingerprint,
        details={**details, "via": "console"},
    )


# --- signing in and out ---


def sign_in(token: str, shop_id: str) -> Actor:
    """The actor behind a key (its own shop; a shop named in the form must match) or behind
    the operator token (for the shop named in the form). One answer for every failure."""
    if token.startswith(PREFIX):
        who = authenticate(container(), token)
        if shop_id and shop_id != who.shop_id:
            raise Unauthorized()
        return who
    if shop_id and is_operator(token) and shop_by_id(container(), shop_id) is not None:
        return Actor(shop_id=shop_id, label="operator")
    raise Unauthorized()


@bp.get("/login")
def login_form() -> Response:
    return page("console/login.html")


@bp.post("/login")
@limited(LOGIN_LIMIT, client_ip)
def login() -> Response:
    require_csrf()
    token = request.form.get("credential", "").strip()
    shop_id = request.form.get("shop_id", "").strip()
    try:
        actor = sign_in(token, shop_id)
    except Unauthorized:
        error = "That key or token is not valid for this shop."
        return page("console/login.html", 401, error=error, shop_id=shop_id)
    resp = redirect(url_for("console.home"), 303)
    start_session(resp, actor)
    return resp


@bp.post("/logout")
def logout() -> Response:
    require_csrf()
    resp = redirect(url_for("console.login_form"), 303)
    end_session(resp)
    return resp


@bp.get("/")
def home() -> Response:
    return redirect(url_for("console.orders"), 303)


# --- orders ---


@bp.get("/orders")
def orders() -> Response:
    status = request.args.get("status") or None
    reference = (request.args.get("reference") or "").strip() or None
    found = merchant_orders.list_orders(
        container(),
        session().shop.id,
        status=status,
        reference=reference,
        cursor=request.args.get("cursor") or None,
        limit=ORDERS_PER_PAGE,
    )
    return page(
        "console/orders.html",
        found=found,
        statuses=get_args(OrderStatus),
        status_filter=status,
        reference=reference,
        first_page=not request.args.get("cursor"),
    )


@dataclass(frozen=True)
class Moment:
    """One entry of an order's timeline: when, what, who, and the money or total it moved."""

    at: datetime
    what: str
    who: str
    amount: int | None = None
    total_change: tuple[int, int] | None = None
    tracking: str | None = None


def timeline(order: MerchantOrder) -> list[Moment]:
    """The order's life in time order: placed, every change (who, what; shipped is one),
    and every movement of money at Stripe."""
    moments = [Moment(order.created_at, "placed", "customer", order.total)]
    for e in order.events:
        amount, tracking = e.details.get("amount"), e.details.get("tracking_reference")
        moments.append(
            Moment(
                e.created_at,
                e.kind.replace("_", " "),
                e.actor,
                amount if isinstance(amount, int) else None,
                (e.total_before, e.total_after) if e.total_before != e.total_after else None,
                tracking if isinstance(tracking, str) else None,
            )
        )
    moments += [
        Moment(p.created_at, f"payment {p.kind}", "Stripe", p.amount) for p in order.payment_events
    ]
    return sorted(moments, key=lambda m: m.at)


def order_page(reference: str, status: int = 200, error: str | None = None) -> Response:
    order = merchant_orders.order_detail(container(), session().shop, reference)
    return page(
        "console/order.html",
        status,
        order=order,
        timeline=timeline(order),
        refunds=[p for p in order.payment_events if p.kind == "refunded"],
        can_refund=order.status in merchant_orders.REFUNDABLE and order.refundable > 0,
        can_cancel=order.status in merchant_orders.CANCELLABLE,
        can_ship=order.status in merchant_orders.SHIPPABLE,
        form_key=form_key(),
        error=error,
    )


@bp.get("/orders/<reference>")
def order(reference: str) -> Response:
    return order_page(reference)


def change_order(
    reference: str, action: str, done: str, details: dict[str, JsonValue], change: Change
) -> Response:
    """Run one change from the order page; a refusal re-renders the page with the reason."""
    try:
        write(action, reference, change, details)
    except (OrderNotFound, CsrfFailed):
        raise
    except KassaError as exc:
        return order_page(reference, status_for(exc), exc.message)
    return redirect(url_for("console.order", reference=reference, done=done), 303)


def invalid(reference: str, message: str) -> Response:
    require_csrf()
    return order_page(reference, 422, message)


@bp.post("/orders/<reference>/refund")
def refund(reference: str) -> Response:
    """Everything left (no fields), one line (``line_id`` and ``quantity``), or an amount
    typed in the currency's major units (``amount``)."""
    form = request.form
    try:
        if form.get("line_id"):
            line = RefundLine.model_validate(
                {"line_id": form["line_id"], "quantity": form.get("quantity", "")}
            )
            body = RefundRequest(lines=[line])
        elif "amount" in form:
            exponent = currency_exponents()[session().shop.currency]
            amount = parse_amount(form["amount"], exponent)
            if not amount:
                return invalid(
                    reference, f"Type an amount such as {'12.50' if exponent else '1250'}."
                )
            body = RefundRequest(amount=amount)
        else:
            body = RefundRequest()
    except ValidationError:
        return invalid(
            reference, "Choose a line and a quantity between 1 and the quantity ordered."
        )
    return change_order(
        reference,
        "order.refund",
        "refunded",
        body.model_dump(mode="json"),
        lambda uow: merchant_orders.refund_in(uow, session().shop, reference, body),
    )


@bp.post("/orders/<reference>/cancel")
def cancel(reference: str) -> Response:
    return change_order(
        reference,
        "order.cancel",
        "cancelled",
        {},
        lambda uow: merchant_orders.cancel_order_in(uow, session().shop, reference),
    )


@bp.post("/orders/<reference>/ship")
def ship(reference: str) -> Response:
    try:
        body = FulfilRequest(tracking_reference=request.form.get("tracking_reference", "").strip())
    except ValidationError:
        return invalid(reference, "Type a tracking reference (up to 100 plain characters).")
    return change_order(
        reference,
        "order.fulfil",
        "shipped",
        body.model_dump(),
        lambda uow: merchant_orders.mark_fulfilled_in(uow, session().shop, reference, body),
    )


# --- stock and the outbox ---


@bp.get("/stock")
def stock() -> Response:
    return page("console/stock.html", levels=list_stock(container(), session().shop.id))


@bp.get("/outbox")
def outbox() -> Response:
    health = outbox_admin.health(container(), session().shop.id)
    return page("console/outbox.html", health=health, form_key=form_key())


@bp.post("/outbox/<int:row_id>/replay")
def replay(row_id: int) -> Response:
    shop_id = session().shop.id
    write(
        "outbox.replay",
        str(row_id),
        lambda uow: outbox_admin.replay_dead_in(uow, row_id, shop_id),
        {},
    )
    return redirect(url_for("console.outbox", done="replayed"), 303)

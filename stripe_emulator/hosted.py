"""The hosted checkout page at a session's `url`: a stand-in for checkout.stripe.com.

"Pay" approves the card, "Pay later (async)" starts a delayed-notification payment,
"Decline" fails the attempt and leaves the session open, as a declined card does.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, redirect, render_template, request
from werkzeug.wrappers import Response

from stripe_emulator import checkout, money
from stripe_emulator.errors import StripeError
from stripe_emulator.models import CheckoutSession, Payer
from stripe_emulator.state import EmulatorState

_OUTCOMES = {"pay": "paid", "async": "async_pending", "decline": "declined"}

_CLOSED = {
    "expired": "This checkout session has expired. Return to the shop to start again.",
    "complete": "This checkout session is complete. Nothing more to pay here.",
}


@dataclass(frozen=True)
class _Row:
    name: str
    quantity: int
    unit: str
    amount: str


def build_hosted(state: EmulatorState) -> Blueprint:
    hosted = Blueprint("hosted_checkout", __name__)

    @hosted.get("/checkout/<session_id>")
    def show(session_id: str) -> Response | tuple[str, int]:
        with state.lock:
            state.sweep()
            try:
                account, session = state.find_session(session_id)
            except StripeError:
                return _not_found(session_id)
            payer = checkout.default_payer(account, session)
            return _page(session, payer), 200

    @hosted.post("/checkout/<session_id>")
    def submit(session_id: str) -> Response | tuple[str, int]:
        outcome = _OUTCOMES.get(request.form.get("action", ""))
        with state.lock:
            state.sweep()
            try:
                account, session = state.find_session(session_id)
            except StripeError:
                return _not_found(session_id)
            default = checkout.default_payer(account, session)
            payer = Payer(
                email=request.form.get("email", "").strip() or default.email,
                name=request.form.get("name", "").strip() or default.name,
                address=default.address,
            )
            if outcome is None:
                return _page(session, payer, "Choose Pay, Pay later (async) or Decline."), 400
            recorder = state.recorder(account)
            try:
                checkout.complete(account, session, outcome, payer, recorder)
            except StripeError:
                return _page(session, payer), 409
            state.publish(recorder)
            if outcome != "declined":
                target = session.success_url.replace("{CHECKOUT_SESSION_ID}", session.id)
            elif session.cancel_url is not None:
                target = session.cancel_url.replace("{CHECKOUT_SESSION_ID}", session.id)
            else:
                return _page(session, payer, "Your card was declined."), 402
        return redirect(target, code=303)

    return hosted


def _page(session: CheckoutSession, payer: Payer, notice: str | None = None) -> str:
    currency = session.currency

    def shown(amount: int) -> str:
        return money.display_amount(amount, currency, session.locale)

    rows = [
        _Row(
            name=item.name,
            quantity=item.quantity,
            unit=shown(item.unit_amount),
            amount=shown(item.amount),
        )
        for item in session.line_items
    ]
    shipping = session.shipping_options[0] if session.shipping_options else None
    return render_template(
        "checkout.html",
        session=session,
        rows=rows,
        shipping_name=shipping.display_name if shipping else None,
        shipping=shown(shipping.amount) if shipping else None,
        total=shown(session.amount_total),
        payer=payer,
        closed=_CLOSED.get(session.status),
        notice=notice,
    )


def _not_found(session_id: str) -> tuple[str, int]:
    return render_template("not_found.html", session_id=session_id), 404

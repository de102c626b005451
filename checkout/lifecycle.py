"""A checkout's life in one place: which states can still be paid, and how a checkout that
will not become an order gives its stock back.

``pending`` (no Stripe session yet) and ``open`` are *live*: the customer may still pay.
Every other state is final for the checkout itself, except that a late payment (an async
method that settles after the hold lapsed) still turns an ``expired`` or ``failed`` checkout
into an order or a refund: see ``checkout.fulfilment``.
"""

from __future__ import annotations

from typing import Literal

from repos.unit_of_work import UnitOfWork
from schemas.records import CheckoutRecord, CheckoutState, HoldState

LIVE_STATES: tuple[CheckoutState, ...] = ("pending", "open")

UNSETTLED_STATES: tuple[CheckoutState, ...] = (*LIVE_STATES, "expired", "failed")
"""Neither an order nor a refund, yet the session may have been paid: still open, or paid
late, after the hold lapsed or the checkout failed."""

ORDERED_STATES: tuple[CheckoutState, ...] = ("fulfilled", "stock_conflict")
"""A checkout whose order was made: it moves here in the order's own transaction, and no
state leads out of here."""

Released = Literal["failed", "expired", "refunded"]

_RELEASED_FROM: dict[Released, tuple[CheckoutState, ...]] = {
    "failed": LIVE_STATES,
    "expired": LIVE_STATES,
    # Money went back without an order: final, whatever the checkout looked like before.
    "refunded": (*LIVE_STATES, "failed", "expired"),
}


def is_live(checkout: CheckoutRecord) -> bool:
    """Still payable as far as Kassa knows: a session may be open for it."""
    return checkout.state in LIVE_STATES


def release_in(
    uow: UnitOfWork, checkout: CheckoutRecord, to: Released, *, holds: HoldState = "released"
) -> bool:
    """Give the checkout's active holds back (as ``holds``) and move it to ``to`` if it may go
    there from where it is. Runs in the caller's transaction, which must hold the checkout's
    row lock. The holds are given back either way (a lapsed hold of a checkout that moved on
    belongs to nobody). Returns whether anything changed, so a second call answers False."""
    released = uow.inventory.finish_holds(checkout.shop_id, checkout.id, holds)
    if checkout.state not in _RELEASED_FROM[to]:
        return bool(released)
    uow.checkouts.set_state(checkout.id, to)
    return True

"""Stripe's `expand[]`: replace ids in a response with the objects they name.

Paths are checked against what Stripe allows to expand before an endpoint runs,
so a bad `expand` is a validation error that mutates nothing.
"""

from __future__ import annotations

from stripe_emulator import objects
from stripe_emulator.errors import InvalidParams, invalid_param
from stripe_emulator.models import Account
from stripe_emulator.objects import JSON

MAX_DEPTH = 4

EXPANDABLE: dict[str, frozenset[str]] = {
    "checkout.session": frozenset(
        {"customer", "invoice", "line_items", "payment_intent", "payment_link", "setup_intent",
         "subscription"}
    ),
    "payment_intent": frozenset(
        {"application", "customer", "latest_charge", "on_behalf_of", "payment_method", "review"}
    ),
    "charge": frozenset(
        {"application", "application_fee", "balance_transaction", "customer",
         "failure_balance_transaction", "on_behalf_of", "payment_intent", "review",
         "source_transfer", "transfer"}
    ),
    "refund": frozenset(
        {"balance_transaction", "charge", "failure_balance_transaction", "payment_intent",
         "source_transfer_reversal", "transfer_reversal"}
    ),
    "customer": frozenset({"default_source", "test_clock"}),
    "item": frozenset({"price"}),
    "price": frozenset({"product"}),
}  # fmt: skip


def validate(paths: list[str], object_name: str, item_name: str | None = None) -> None:
    """Check the first level of each path against the response's object type."""
    for path in paths:
        segments = path.split(".")
        if len(segments) > MAX_DEPTH:
            raise invalid_param(
                "expand", f"You cannot expand more than {MAX_DEPTH} levels of a property."
            )
        kind = object_name
        if kind == "list":
            if segments[0] != "data" or len(segments) < 2 or item_name is None:
                raise _not_expandable(path)
            kind, segments = item_name, segments[1:]
        if segments[0] not in EXPANDABLE.get(kind, frozenset()):
            raise _not_expandable(path)


def apply(body: JSON, paths: list[str], account: Account) -> JSON:
    for path in paths:
        _expand(body, path.split("."), account, path)
    return body


def _expand(node: JSON, segments: list[str], account: Account, path: str) -> None:
    field, rest = segments[0], segments[1:]
    if node.get("object") == "list":
        if field != "data" or not rest:
            raise _not_expandable(path)
        for item in node["data"]:
            _expand(item, rest, account, path)
        return
    value = node.get(field)
    if field not in EXPANDABLE.get(str(node.get("object")), frozenset()) and not isinstance(
        value, dict
    ):
        raise _not_expandable(path)
    if field == "line_items" and node.get("object") == "checkout.session":
        value = node[field] = _line_items(account, str(node["id"]))
    elif isinstance(value, str):
        resolved = _find(account, value)
        if resolved is not None:
            value = node[field] = resolved
    if rest and isinstance(value, dict):
        _expand(value, rest, account, path)


def _line_items(account: Account, session_id: str) -> JSON:
    """The first page, as Stripe expands lists: Kassa must follow `has_more` itself."""
    session = account.checkout_sessions[session_id]
    items = session.line_items
    return objects.list_json(
        [objects.line_item_json(item) for item in items[:10]],
        has_more=len(items) > 10,
        url=f"/v1/checkout/sessions/{session_id}/line_items",
    )


def _find(account: Account, object_id: str) -> JSON | None:
    prefix = object_id.split("_", 1)[0]
    if prefix == "cs" and object_id in account.checkout_sessions:
        return objects.session_json(account.checkout_sessions[object_id])
    if prefix == "pi" and object_id in account.payment_intents:
        return objects.payment_intent_json(account.payment_intents[object_id])
    if prefix == "ch" and object_id in account.charges:
        return objects.charge_json(account.charges[object_id])
    if prefix == "re" and object_id in account.refunds:
        return objects.refund_json(account.refunds[object_id])
    if prefix == "cus" and object_id in account.customers:
        return objects.customer_json(account.customers[object_id])
    return None


def _not_expandable(path: str) -> InvalidParams:
    return invalid_param("expand", f"This property cannot be expanded ({path}).")

"""Customers: create, update and look up; Checkout can also create one on completion."""

from __future__ import annotations

from stripe_emulator import objects
from stripe_emulator.errors import resource_missing
from stripe_emulator.events import EventRecorder
from stripe_emulator.ids import new_id
from stripe_emulator.models import Account, Address, Customer, empty_address
from stripe_emulator.params import ParamReader

_FIELDS = ("address", "description", "email", "metadata", "name", "phone")
# Real parameters for billing features the emulator does not model; accepted and ignored.
_IGNORED = (
    "balance", "business_name", "cash_balance", "individual_name", "invoice_prefix",
    "invoice_settings", "next_invoice_sequence", "payment_method", "preferred_locales",
    "shipping", "source", "tax", "tax_exempt", "tax_id_data", "test_clock", "validate",
    "default_source",
)  # fmt: skip


def find_customer(account: Account, customer_id: str) -> Customer:
    customer = account.customers.get(customer_id)
    if customer is None:
        raise resource_missing("customer", customer_id)
    return customer


def create(account: Account, reader: ParamReader, recorder: EventRecorder) -> Customer:
    reader.only(_FIELDS + _IGNORED)
    customer = Customer(
        id=new_id("cus"),
        created=recorder.now,
        email=reader.string("email", max_length=512),
        name=reader.string("name", max_length=256),
        phone=reader.string("phone", max_length=20),
        description=reader.string("description"),
        address=_address(reader),
        metadata=reader.apply_metadata({}),
    )
    account.customers[customer.id] = customer
    recorder.emit("customer.created", objects.customer_json(customer))
    return customer


def update(customer: Customer, reader: ParamReader, recorder: EventRecorder) -> None:
    reader.only(_FIELDS + _IGNORED)
    metadata = reader.apply_metadata(customer.metadata)
    changes = {
        key: reader.string(key, allow_empty=True)
        for key in ("email", "name", "phone", "description")
        if reader.has(key)
    }
    address = _address(reader) if reader.has("address") else customer.address
    previous = objects.customer_json(customer)
    for key, value in changes.items():
        setattr(customer, key, value or None)
    customer.metadata = metadata
    customer.address = address
    current = objects.customer_json(customer)
    event = recorder.emit("customer.updated", current)
    event.previous_attributes = {k: v for k, v in previous.items() if current.get(k) != v}


def _address(reader: ParamReader) -> Address | None:
    if reader.data.get("address") == "":
        return None
    address = reader.child("address")
    if address is None:
        return None
    address.only(("city", "country", "line1", "line2", "postal_code", "state"))
    result = empty_address()
    for key in result:
        result[key] = address.string(key, allow_empty=True) or None
    return result

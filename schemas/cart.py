"""Cart input and output. Prices never come from the client: a line is SKU, variant, quantity."""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from schemas.api import StrictInput
from schemas.checkout import PricedCart
from schemas.money import MinorUnits, Quantity
from schemas.records import ShippingOption, with_variant
from schemas.text import MAX_IDENTIFIER, Identifier, SafeText, printable


def line_key_for(sku: str, variant: str) -> str:
    """Stable and URL-safe; includes the variant so two colours are two lines."""
    digest = hashlib.sha256(f"{sku}\x1f{variant}".encode()).hexdigest()[:10]
    return f"{sku}.{digest}"


class CartLine(BaseModel):
    model_config = ConfigDict(frozen=True)
    line_key: str
    sku: str
    variant: str
    quantity: int


class AddItem(StrictInput):
    sku: Identifier
    quantity: Quantity = 1


class SetQuantity(StrictInput):
    quantity: int = Field(ge=0, le=999)


def _audit_text(value: Any) -> str | None:
    """A client's price is never used, only recorded as text for audit: text Postgres
    would refuse in ``jsonb`` is refused here, as a 422."""
    return None if value is None else printable(str(value))


ClientPrice = Annotated[Any, AfterValidator(_audit_text)]


class LineInput(BaseModel):
    """A headless storefront's line. A price it sends is ignored (and audited), never used."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)
    sku: Identifier
    quantity: Quantity
    unit_amount: ClientPrice = None
    price: ClientPrice = None


class CartInput(StrictInput):
    """``POST /api/checkout``: the cart to buy, by cookie or by explicit lines."""

    lines: list[LineInput] | None = Field(default=None, min_length=1, max_length=100)
    shipping_option_id: SafeText | None = Field(default=None, max_length=MAX_IDENTIFIER)
    coupon: SafeText | None = Field(default=None, max_length=MAX_IDENTIFIER)
    customer_email: SafeText | None = Field(default=None, max_length=254)


class HydratedLine(BaseModel):
    line_key: str
    sku: str
    name: str
    variant: str
    attributes: dict[str, str]
    quantity: int
    unit_amount: MinorUnits
    line_total: MinorUnits
    available: int

    @property
    def display_name(self) -> str:
        return with_variant(self.name, self.variant)


class CartView(BaseModel):
    cart_id: str | None
    currency: str
    lines: list[HydratedLine]
    subtotal: MinorUnits
    item_count: int


class ProductView(BaseModel):
    sku: str
    name: str
    unit_amount: MinorUnits
    currency: str
    attributes: dict[str, str]
    available: int


class ProductList(BaseModel):
    products: list[ProductView]


class InventoryItem(StrictInput):
    sku: Identifier
    quantity: Quantity


class InventoryRequest(StrictInput):
    items: list[InventoryItem] = Field(min_length=1, max_length=100)


class InventoryItemResult(BaseModel):
    sku: str
    requested: int
    available: int
    ok: bool


class InventoryResult(BaseModel):
    ok: bool
    items: list[InventoryItemResult]


class CartQuote(BaseModel):
    """What the cart will cost with the chosen shipping and coupon, shown before the payment
    page; priced by the same ``price_cart`` as the checkout, so the two cannot disagree."""

    priced: PricedCart
    shipping_options: list[ShippingOption]
    coupon_rejected: bool

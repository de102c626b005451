"""Bodies of the operator and merchant APIs (``/admin/*``) and the ``kassa`` commands over
them. Inputs refuse unknown fields; outputs never carry a secret: a Stripe key or webhook
secret goes in and never comes back out."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    Field,
    RootModel,
    StringConstraints,
    TypeAdapter,
    model_validator,
)

from schemas.api import StrictInput
from schemas.money import MAX_PRICE, Price
from schemas.records import ShopProfile
from schemas.text import SafeText

ShopId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]
Currency = Annotated[str, StringConstraints(pattern=r"^[a-z]{3}$", to_lower=True)]
Sku = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]
Code = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]
Location = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
]
SKU = TypeAdapter(Sku)
CODE = TypeAdapter(Code)
LOCATION = TypeAdapter(Location)
"""For identifiers that arrive in a path rather than a body."""
Name = Annotated[SafeText, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
Reason = Annotated[SafeText, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
RateLimit = Annotated[
    str, StringConstraints(pattern=r"^\d+\s*(/|per)\s*\d*\s*(second|minute|hour|day)s?$")
]
StripeKey = Annotated[str, StringConstraints(pattern=r"^(sk|rk)_(test|live)_[A-Za-z0-9_]{1,200}$")]
WebhookSecret = Annotated[str, StringConstraints(pattern=r"^whsec_[A-Za-z0-9_]{1,200}$")]
Units = Annotated[int, Field(ge=0, le=1_000_000_000)]

# --- shops (operator) ---------------------------------------------------------------


class ShopSettingsPatch(StrictInput):
    """Everything an operator may change; absent fields are left as they are."""

    name: Name | None = None
    currency: Currency | None = None
    storefront_url: AnyHttpUrl | None = None
    hold_ttl_seconds: Annotated[int, Field(ge=1800, le=86400)] | None = None
    capture_mode: Literal["immediate", "delayed"] | None = None
    capture_window_seconds: Annotated[int, Field(gt=0, le=7 * 86400)] | None = None
    checkout_rate_limit: RateLimit | None = None
    low_stock_threshold: Units | None = Field(
        default=None,
        description="stock.low when a SKU's available units fall to this or below; null: never",
    )
    stripe_api_key: StripeKey | None = Field(default=None, repr=False)
    stripe_webhook_secret: WebhookSecret | None = Field(default=None, repr=False)


class ShopCreate(ShopSettingsPatch):
    id: ShopId
    name: Name
    currency: Currency
    storefront_url: AnyHttpUrl
    stripe_api_key: StripeKey = Field(repr=False)


class ShopView(ShopProfile):
    """A shop as operators see it: settings, and only whether each secret is set."""

    stripe_api_key_set: bool = True
    stripe_webhook_secret_set: bool


class ShopList(RootModel[list[ShopView]]):
    pass


# --- API keys (operator) ------------------------------------------------------------


class ApiKeyCreate(StrictInput):
    shop_id: ShopId
    name: Name


class ApiKeyView(BaseModel):
    id: str
    shop_id: str
    name: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyView):
    key: str = Field(description="The whole key, shown this once and never again.")


class ApiKeyList(RootModel[list[ApiKeyView]]):
    pass


# --- catalog (merchant) -------------------------------------------------------------


class ProductInput(StrictInput):
    """A variant: one SKU. Variants of one product share ``product_code``."""

    sku: Sku
    product_code: Code | None = Field(default=None, description="defaults to the SKU")
    name: Name
    attributes: dict[
        Annotated[SafeText, StringConstraints(min_length=1, max_length=64)],
        Annotated[SafeText, StringConstraints(max_length=200)],
    ] = Field(default_factory=dict, max_length=20)
    unit_amount: Price
    active: bool = True


class ProductReplace(StrictInput):
    """PUT: the whole variant except its SKU, which the path names."""

    product_code: Code | None = None
    name: Name
    attributes: dict[
        Annotated[SafeText, StringConstraints(min_length=1, max_length=64)],
        Annotated[SafeText, StringConstraints(max_length=200)],
    ] = Field(default_factory=dict, max_length=20)
    unit_amount: Price
    active: bool = True


class ProductPatch(StrictInput):
    product_code: Code | None = None
    name: Name | None = None
    attributes: (
        dict[
            Annotated[SafeText, StringConstraints(min_length=1, max_length=64)],
            Annotated[SafeText, StringConstraints(max_length=200)],
        ]
        | None
    ) = Field(default=None, max_length=20)
    unit_amount: Price | None = None
    active: bool | None = None


class MerchantProduct(BaseModel):
    sku: str
    product_code: str
    name: str
    attributes: dict[str, str]
    unit_amount: int
    currency: str
    active: bool


class ProductPage(BaseModel):
    products: list[MerchantProduct]
    next_cursor: str | None = Field(description="pass as ?after= for the next page")


class ShippingOptionInput(StrictInput):
    id: Code
    name: Name
    amount: Price
    active: bool = True


class ShippingOptionReplace(StrictInput):
    name: Name
    amount: Price
    active: bool = True


class ShippingOptionPatch(StrictInput):
    name: Name | None = None
    amount: Price | None = None
    active: bool | None = None


class ShippingOptionView(BaseModel):
    id: str
    name: str
    amount: int
    active: bool


class ShippingOptionList(RootModel[list[ShippingOptionView]]):
    pass


class CouponInput(StrictInput):
    code: Code
    percent_off: Annotated[int, Field(ge=1, le=100)] | None = None
    amount_off: Annotated[int, Field(gt=0, le=MAX_PRICE)] | None = None
    active: bool = True

    @model_validator(mode="after")
    def one_discount(self) -> CouponInput:
        if (self.percent_off is None) == (self.amount_off is None):
            raise ValueError("give exactly one of percent_off and amount_off")
        return self


class CouponReplace(StrictInput):
    """PUT: the coupon becomes exactly this. Open checkouts keep the discount they got."""

    percent_off: Annotated[int, Field(ge=1, le=100)] | None = None
    amount_off: Annotated[int, Field(gt=0, le=MAX_PRICE)] | None = None
    active: bool = True

    @model_validator(mode="after")
    def one_discount(self) -> CouponReplace:
        if (self.percent_off is None) == (self.amount_off is None):
            raise ValueError("give exactly one of percent_off and amount_off")
        return self


class CouponPatch(StrictInput):
    """Switch a coupon on or off; PUT changes its discount."""

    active: bool


class CouponView(BaseModel):
    code: str
    percent_off: int | None
    amount_off: int | None
    active: bool


class CouponList(RootModel[list[CouponView]]):
    pass


# --- stock (merchant) ---------------------------------------------------------------


class StockSet(StrictInput):
    on_hand: Units
    reason: Reason
    priority: Annotated[int, Field(ge=0, le=1000)] | None = None


class StockAdjust(StrictInput):
    delta: Annotated[int, Field(ge=-1_000_000_000, le=1_000_000_000)]
    reason: Reason

    @model_validator(mode="after")
    def not_zero(self) -> StockAdjust:
        if self.delta == 0:
            raise ValueError("delta must not be zero")
        return self


class StockLevelView(BaseModel):
    sku: str
    location: str
    priority: int
    on_hand: int
    reserved: int
    available: int


class StockList(RootModel[list[StockLevelView]]):
    pass


class StockLedgerView(BaseModel):
    id: int
    sku: str
    location: str
    delta: int
    on_hand_after: int
    reason: str
    actor: str
    created_at: datetime


class StockLedgerPage(BaseModel):
    entries: list[StockLedgerView]
    next_cursor: str | None


# --- bulk import (merchant) ---------------------------------------------------------


class ImportStock(StrictInput):
    location: Location
    on_hand: Units
    priority: Annotated[int, Field(ge=0, le=1000)] | None = None


class ImportProduct(ProductInput):
    stock: list[ImportStock] = Field(default_factory=list, max_length=50)


class CatalogDocument(StrictInput):
    """The JSON form of a catalog import (the CSV form is read into the same model)."""

    products: list[ImportProduct] = Field(default_factory=list)
    shipping_options: list[ShippingOptionInput] = Field(default_factory=list)
    coupons: list[CouponInput] = Field(default_factory=list)
    reason: Reason = "import"


class ImportRowError(BaseModel):
    row: int = Field(description="CSV: line number in the file; JSON: 1-based index in section")
    section: str
    field: str | None
    message: str


class ImportResult(BaseModel):
    products: int
    stock_levels: int
    stock_changes: int
    shipping_options: int
    coupons: int

"""What the domain needs from the outside world, as protocols; adapters live at the edge."""

from __future__ import annotations

from typing import Protocol

from checkout.shop_cache import ShopCache
from repos.carts import CartStore
from repos.stock_mirror import StockMirror
from repos.unit_of_work import UnitOfWork
from schemas.records import Shop
from schemas.settings import Settings
from schemas.stripe import (
    CheckoutSession,
    PaymentIntent,
    StripeSessionConfig,
    StripeWebhookPayload,
)


class PaymentProviderError(Exception):
    """A Stripe call failed. ``transient`` errors may succeed if retried with the same key."""

    def __init__(self, message: str, *, transient: bool, code: str | None = None) -> None:
        super().__init__(message)
        self.transient = transient
        self.code = code


class PaymentGateway(Protocol):
    def create_session(
        self, shop: Shop, config: StripeSessionConfig, idempotency_key: str
    ) -> CheckoutSession: ...

    def retrieve_session(self, shop: Shop, session_id: str) -> CheckoutSession: ...

    def expire_session(self, shop: Shop, session_id: str) -> None: ...

    def retrieve_payment_intent(self, shop: Shop, payment_intent_id: str) -> PaymentIntent: ...

    def update_payment_metadata(
        self, shop: Shop, payment_intent_id: str, metadata: dict[str, str], idempotency_key: str
    ) -> None: ...

    def refund(
        self,
        shop: Shop,
        payment_intent_id: str,
        amount: int,
        idempotency_key: str,
        metadata: dict[str, str],
    ) -> str: ...

    def capture(
        self, shop: Shop, payment_intent_id: str, amount: int, idempotency_key: str
    ) -> None: ...

    def upsert_customer(
        self, shop: Shop, email: str, name: str | None, idempotency_key: str
    ) -> str: ...

    def cancel_payment_intent(
        self, shop: Shop, payment_intent_id: str, idempotency_key: str
    ) -> None: ...

    def verify_webhook(
        self, payload: bytes, signature: str | None, secret: str
    ) -> StripeWebhookPayload: ...

    def list_events(
        self, shop: Shop, types: list[str], created_gte: int
    ) -> list[StripeWebhookPayload]: ...


class Services(Protocol):
    """What a use case may touch; the composition root's Container satisfies it."""

    @property
    def settings(self) -> Settings: ...

    @property
    def payments(self) -> PaymentGateway: ...

    @property
    def carts(self) -> CartStore: ...

    @property
    def mirror(self) -> StockMirror: ...

    @property
    def shop_cache(self) -> ShopCache: ...

    def uow(self) -> UnitOfWork: ...

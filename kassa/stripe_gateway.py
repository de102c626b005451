"""The Stripe adapter: the official SDK, one client per shop key, errors sorted into
transient (retry with the same idempotency key) and permanent."""

from __future__ import annotations

import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import stripe
import urllib3
from pydantic import ValidationError
from stripe import SignatureVerificationError, WebhookSignature
from stripe.params import CustomerCreateParams

from checkout.errors import WebhookRejected, WebhookTimestampRejected
from checkout.ports import PaymentProviderError
from schemas.records import Shop
from schemas.stripe import (
    CheckoutSession,
    PaymentIntent,
    StripeSessionConfig,
    StripeWebhookPayload,
)

# The webhook path names SDK classes it uses on every request directly: `stripe.X` goes
# through the SDK's lazy module __getattr__, an import_module call at each use.

T = TypeVar("T")

WEBHOOK_TOLERANCE = 300
TRANSIENT = (stripe.APIConnectionError, stripe.RateLimitError, stripe.APIError)


class StripeGateway:
    def __init__(self, api_base: str, *, max_retries: int = 2, timeout: float = 10.0) -> None:
        self.api_base = api_base.rstrip("/")
        self.max_retries = max_retries
        self.timeout = timeout
        self._clients: dict[str, stripe.StripeClient] = {}
        self._lock = threading.Lock()
        self._http = _http_client(self.api_base, timeout)

    def client(self, api_key: str) -> stripe.StripeClient:
        with self._lock:
            if api_key not in self._clients:
                self._clients[api_key] = stripe.StripeClient(
                    api_key,
                    base_addresses={"api": self.api_base},
                    max_network_retries=self.max_retries,
                    http_client=self._http,
                )
            return self._clients[api_key]

    def _raw(
        self,
        shop: Shop,
        method: str,
        path: str,
        params: dict[str, Any] | None = None,  # Any: raw_request takes untyped **params
        idempotency_key: str | None = None,
    ) -> str:
        """The response body of one call, as JSON text. The official SDK sends it (keys,
        retries, idempotency, errors) but we skip building its StripeObjects, since the body
        is read straight into a pydantic model."""
        options = {"idempotency_key": idempotency_key} if idempotency_key else {}
        response = self._call(
            lambda: self.client(shop.stripe_api_key).raw_request(
                method, path, **(params or {}), **options
            )
        )
        body: str = response.body
        return body

    def _call(self, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except TRANSIENT as exc:
            raise PaymentProviderError(
                type(exc).__name__, transient=True, code=getattr(exc, "code", None)
            ) from exc
        except stripe.StripeError as exc:
            raise PaymentProviderError(
                type(exc).__name__, transient=False, code=getattr(exc, "code", None)
            ) from exc

    def create_session(
        self, shop: Shop, config: StripeSessionConfig, idempotency_key: str
    ) -> CheckoutSession:
        params = config.model_dump(exclude_none=True)
        if not params.get("payment_intent_data"):
            params.pop("payment_intent_data", None)
        body = self._raw(shop, "post", "/v1/checkout/sessions", params, idempotency_key)
        return CheckoutSession.model_validate_json(body)

    def retrieve_session(self, shop: Shop, session_id: str) -> CheckoutSession:
        path = f"/v1/checkout/sessions/{quote(session_id, safe='')}"
        return CheckoutSession.model_validate_json(self._raw(shop, "get", path))

    def expire_session(self, shop: Shop, session_id: str) -> None:
        self._call(lambda: self.client(shop.stripe_api_key).v1.checkout.sessions.expire(session_id))

    def retrieve_payment_intent(self, shop: Shop, payment_intent_id: str) -> PaymentIntent:
        path = f"/v1/payment_intents/{quote(payment_intent_id, safe='')}"
        return PaymentIntent.model_validate_json(self._raw(shop, "get", path))

    def update_payment_metadata(
        self, shop: Shop, payment_intent_id: str, metadata: dict[str, str], idempotency_key: str
    ) -> None:
        self._call(
            lambda: self.client(shop.stripe_api_key).v1.payment_intents.update(
                payment_intent_id,
                params={"metadata": metadata},
                options={"idempotency_key": idempotency_key},
            )
        )

    def refund(
        self,
        shop: Shop,
        payment_intent_id: str,
        amount: int,
        idempotency_key: str,
        metadata: dict[str, str],
    ) -> str:
        refund = self._call(
            lambda: self.client(shop.stripe_api_key).v1.refunds.create(
                params={
                    "payment_intent": payment_intent_id,
                    "amount": amount,
                    "metadata": metadata,
                },
                options={"idempotency_key": idempotency_key},
            )
        )
        return str(refund.id)

    def capture(
        self, shop: Shop, payment_intent_id: str, amount: int, idempotency_key: str
    ) -> None:
        self._call(
            lambda: self.client(shop.stripe_api_key).v1.payment_intents.capture(
                payment_intent_id,
                params={"amount_to_capture": amount},
                options={"idempotency_key": idempotency_key},
            )
        )

    def upsert_customer(
        self, shop: Shop, email: str, name: str | None, idempotency_key: str
    ) -> str:
        params: CustomerCreateParams = {"email": email}
        if name:
            params["name"] = name
        customer = self._call(
            lambda: self.client(shop.stripe_api_key).v1.customers.create(
                params=params, options={"idempotency_key": idempotency_key}
            )
        )
        return str(customer.id)

    def verify_webhook(
        self, payload: bytes, signature: str | None, secret: str
    ) -> StripeWebhookPayload:
        """Stripe's own HMAC check with the shop's secret, then the signed timestamp within
        ``WEBHOOK_TOLERANCE`` of now on *both* sides: the SDK only refuses old ones, and a
        signature dated in the future would stay replayable for as long as it is ahead."""
        if not signature:
            raise WebhookRejected("Missing Stripe-Signature header.")
        try:
            WebhookSignature.verify_header(payload.decode("utf-8"), signature, secret)
        except SignatureVerificationError as exc:
            raise WebhookRejected("Bad webhook signature.") from exc
        except ValueError as exc:
            raise WebhookRejected("The webhook payload could not be read.") from exc
        skew = _signed_at(signature) - time.time()
        if abs(skew) > WEBHOOK_TOLERANCE:
            raise WebhookTimestampRejected(
                details={"tolerance_seconds": WEBHOOK_TOLERANCE, "skew_seconds": int(skew)}
            )
        try:
            return StripeWebhookPayload.model_validate_json(payload)
        except (ValueError, ValidationError) as exc:
            raise WebhookRejected("The webhook payload could not be read.") from exc

    def list_events(
        self, shop: Shop, types: list[str], created_gte: int
    ) -> list[StripeWebhookPayload]:
        """Events of these types created at or after ``created_gte``, newest first (Stripe's
        order), every page. Events come over the authenticated API: no signature needed."""

        def fetch() -> list[StripeWebhookPayload]:
            pages = self.client(shop.stripe_api_key).v1.events.list(
                params={"types": types, "created": {"gte": created_gte}, "limit": 100}
            )
            return [
                StripeWebhookPayload.model_validate(event.to_dict())
                for event in pages.auto_paging_iter()
            ]

        return self._call(fetch)

    def cancel_payment_intent(
        self, shop: Shop, payment_intent_id: str, idempotency_key: str
    ) -> None:
        """Void an authorization that will not be captured (the hold on the card is released)."""
        self._call(
            lambda: self.client(shop.stripe_api_key).v1.payment_intents.cancel(
                payment_intent_id, options={"idempotency_key": idempotency_key}
            )
        )

    def register_webhook(self, api_key: str, url: str) -> str:
        """Create a webhook endpoint for every event and return its signing secret
        (``kassa dev``, ``kassa seed --register-webhook``). Endpoints already at ``url`` are
        deleted first: their secret is about to be replaced, so they could only fail, and
        seeding again must not make every event arrive twice."""
        endpoints = self.client(api_key).v1.webhook_endpoints

        def replace() -> str:
            for old in endpoints.list(params={"limit": 100}).auto_paging_iter():
                if old.url == url:
                    endpoints.delete(old.id)
            created = endpoints.create(params={"url": url, "enabled_events": ["*"]})
            return str(created.secret)

        return self._call(replace)


class Urllib3Client(stripe.HTTPClient):
    """The official SDK's transport, on urllib3 directly: one keep-alive pool shared by every
    shop and thread. The SDK's own requests-based client spent about a third of a Stripe
    call's CPU in requests itself (merging settings, hooks, cookies, adapters) for nothing
    Kassa uses. urllib3 retries nothing here (the SDK retries, with its idempotency keys),
    follows no redirect and reads no environment: the proxy is read once, by the caller."""

    name = "urllib3"

    def __init__(self, timeout: float, proxy: str | None = None, pool_size: int = 32) -> None:
        super().__init__(proxy=proxy)
        options: dict[str, Any] = {
            "num_pools": 4,
            "maxsize": pool_size,
            "retries": False,
            "timeout": urllib3.Timeout(connect=timeout, read=timeout),
            "cert_reqs": "CERT_REQUIRED",
            "ca_certs": stripe.ca_bundle_path,
        }
        self._pool: urllib3.PoolManager = (
            urllib3.ProxyManager(proxy, **options) if proxy else urllib3.PoolManager(**options)
        )

    def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        post_data: Any = None,
        *,
        _usage: list[str] | None = None,
    ) -> tuple[str, int, Mapping[str, str]]:
        response = self._send(method, url, headers, post_data, preload=True)
        return response.data.decode("utf-8"), response.status, response.headers

    def request_stream(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        post_data: Any = None,
        *,
        _usage: list[str] | None = None,
    ) -> tuple[Any, int, Mapping[str, str]]:
        response = self._send(method, url, headers, post_data, preload=False)
        return response, response.status, response.headers

    def _send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        body: Any,
        *,
        preload: bool,
    ) -> urllib3.BaseHTTPResponse:
        try:
            return self._pool.request(
                method.upper(),
                url,
                body=body,
                headers=dict(headers or {}),
                preload_content=preload,
                redirect=False,
            )
        except urllib3.exceptions.SSLError as exc:  # a certificate problem: retrying won't help
            raise stripe.APIConnectionError(  # type: ignore[no-untyped-call]
                f"Could not verify Stripe's TLS certificate ({type(exc).__name__})",
                should_retry=False,
            ) from exc
        except urllib3.exceptions.HTTPError as exc:  # connect, read, timeout: worth a retry
            raise stripe.APIConnectionError(  # type: ignore[no-untyped-call]
                f"Network error talking to Stripe ({type(exc).__name__})", should_retry=True
            ) from exc

    def close(self) -> None:
        self._pool.clear()


def _http_client(api_base: str, timeout: float) -> Urllib3Client:
    """One keep-alive HTTP client for every shop's calls, in every thread; the proxy
    settings are read from the environment once, here."""
    host = urlsplit(api_base).hostname or ""
    proxies = urllib.request.getproxies()
    proxy = proxies.get("https") or proxies.get("http")
    if proxy and urllib.request.proxy_bypass(host):
        proxy = None
    return Urllib3Client(timeout, proxy)


def _signed_at(signature: str) -> int:
    """The header's ``t=``, read as the SDK reads it (which has just verified it)."""
    items = [i.split("=", 2) for i in signature.split(",")]
    return int(next(i[1] for i in items if i[0] == "t"))

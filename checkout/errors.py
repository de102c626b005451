"""Domain errors as values with codes. The web tier maps each to an HTTP status in one place."""

from __future__ import annotations


class KassaError(Exception):
    code = "error"
    message = "Something went wrong."
    retry_after: int | None = None

    def __init__(self, message: str | None = None, details: object = None) -> None:
        """``details`` is JSON for the client (the web tier and the CLI serialise it)."""
        super().__init__(message or self.message)
        self.message = message or self.message
        self.details = details


class InvalidRequest(KassaError):
    code, message = "invalid_request", "The request is not valid."


class InvalidJson(KassaError):
    code, message = "invalid_json", "The request body is not valid JSON."


class JsonTooDeep(InvalidJson):
    code, message = "json_too_deep", "The request body's JSON is nested too deeply."


class ShopRequired(KassaError):
    code, message = "shop_required", "Name the shop with the X-Shop-Id header."


class ShopNotFound(KassaError):
    code, message = "shop_not_found", "No such shop."


class UnknownSku(KassaError):
    code, message = "unknown_sku", "No such product in this shop."


class UnknownLine(KassaError):
    code, message = "unknown_line", "No such line in the cart."


class EmptyCart(KassaError):
    code, message = "empty_cart", "The cart is empty."


class UnknownShippingOption(KassaError):
    code, message = "unknown_shipping_option", "No such shipping option."


class UnknownCoupon(KassaError):
    code, message = "unknown_coupon", "No such coupon."


class CurrencyMismatch(KassaError):
    code, message = "currency_mismatch", "All lines must be in the shop's currency."


class IdempotencyKeyRequired(KassaError):
    code = "idempotency_key_required"
    message = "A checkout with explicit lines needs an Idempotency-Key header or a cart."


class IdempotencyKeyReused(KassaError):
    code = "idempotency_key_reused"
    message = "This Idempotency-Key was already used for a different cart."


class OutOfStock(KassaError):
    code, message = "out_of_stock", "Some items are not available in the requested quantity."


class CheckoutInProgress(KassaError):
    code = "checkout_in_progress"
    message = "This checkout is still being created; retry in a moment."
    retry_after = 1


class CheckoutNotFound(KassaError):
    code, message = "checkout_not_found", "No such checkout."


class OrderNotFound(KassaError):
    code, message = "order_not_found", "No such order."


class WindowClosed(KassaError):
    code = "window_closed"
    message = "The modification window of this order has closed."


class AmountIncreaseNotAllowed(KassaError):
    code = "amount_increase_not_allowed"
    message = "An order can only get cheaper after payment: quantities may only go down."


class WindowClosing(KassaError):
    code = "window_closing"
    message = (
        "Too little of the modification window is left to pay for added items "
        "(a payment page stays open at least 30 minutes); place a new order."
    )


class PaymentProviderUnavailable(KassaError):
    code = "payment_provider_unavailable"
    message = "The payment provider is unavailable; nothing was charged and the stock was released."


class StockUnavailable(KassaError):
    code, message = "stock_unavailable", "Stock levels cannot be read right now."


class Unauthorized(KassaError):
    code, message = "unauthorized", "Missing or wrong credentials."


class WebhookRejected(KassaError):
    code, message = "webhook_rejected", "The webhook was rejected."


class WebhookTimestampRejected(WebhookRejected):
    code = "webhook_timestamp_out_of_tolerance"
    message = "The webhook's signed timestamp is too far from now (in the past or the future)."


class NotFound(KassaError):
    code, message = "not_found", "No such resource."


class StockBelowReserved(KassaError):
    code = "stock_below_reserved"
    message = "On-hand stock cannot go below what live checkouts have reserved."


class ShopExists(KassaError):
    code, message = "shop_exists", "A shop with this id already exists."


class CatalogImportRejected(KassaError):
    code = "import_rejected"
    message = "The catalog has errors; nothing was imported."


class AlreadyExists(KassaError):
    code, message = "already_exists", "This resource already exists; change it with PUT or PATCH."


class RefundExceedsCaptured(KassaError):
    code, message = "refund_exceeds_captured", "The refund is more than is left to refund."


class OrderNotChangeable(KassaError):
    code, message = "order_not_changeable", "The order's status does not allow this change."

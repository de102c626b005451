"""Constants and defaults, gathered so code, tests and docs refer to them by name."""

from __future__ import annotations

from typing import Final

import stripe

# The version stripe-python 16.1.0 pins and sends as Stripe-Version.
API_VERSION: Final = "2026-10-28.endive"
# The versions whose response shapes the emulator serves: its own, and the one the installed
# SDK pins and sends. Any other Stripe-Version (or endpoint `api_version`) gets a 400.
API_VERSIONS: Final = tuple(dict.fromkeys((API_VERSION, stripe.api_version)))

DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 12111

IDEMPOTENCY_KEY_TTL_SECONDS: Final = 24 * 60 * 60
IDEMPOTENCY_KEY_MAX_LENGTH: Final = 255

SESSION_MIN_LIFETIME_SECONDS: Final = 30 * 60
SESSION_MAX_LIFETIME_SECONDS: Final = 24 * 60 * 60
SESSION_DEFAULT_LIFETIME_SECONDS: Final = 24 * 60 * 60
MAX_LINE_ITEMS: Final = 100
MAX_SHIPPING_OPTIONS: Final = 5

# Uncaptured PaymentIntents are cancelled by Stripe 7 days after creation.
AUTHORIZATION_WINDOW_SECONDS: Final = 7 * 24 * 60 * 60

LIST_DEFAULT_LIMIT: Final = 10
LIST_MAX_LIMIT: Final = 100

METADATA_MAX_KEYS: Final = 50
METADATA_KEY_MAX_LENGTH: Final = 40
METADATA_VALUE_MAX_LENGTH: Final = 500

# Webhook delivery: Stripe retries for days; the emulator compresses that into seconds.
WEBHOOK_RETRY_DELAYS: Final = (0.2, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
WEBHOOK_TIMEOUT_SECONDS: Final = 5.0
WEBHOOK_USER_AGENT: Final = "Stripe/1.0 (+https://stripe.com/docs/webhooks)"
DELIVERY_LOG_SIZE: Final = 1000

ENV_WEBHOOK_RETRY_DELAYS: Final = "STRIPE_EMULATOR_WEBHOOK_RETRY_DELAYS"
ENV_WEBHOOK_MAX_ATTEMPTS: Final = "STRIPE_EMULATOR_WEBHOOK_MAX_ATTEMPTS"
ENV_WEBHOOK_TIMEOUT: Final = "STRIPE_EMULATOR_WEBHOOK_TIMEOUT"

# A delay added to every /v1 call ("250" or "200-300" milliseconds), as real Stripe has.
ENV_LATENCY_MS: Final = "STRIPE_EMULATOR_LATENCY_MS"
LATENCY_MAX_MS: Final = 60_000
# "1" (the default): any well-formed test key opens an account on first use. "0": only
# keys registered through POST /_emulator/accounts authenticate, as on Stripe.
ENV_AUTO_ACCOUNTS: Final = "STRIPE_EMULATOR_AUTO_ACCOUNTS"
# The address browsers reach the emulator at, when it is not the one API clients call it by
# (in a container: Kassa calls http://emulator:12111, the host's browser http://localhost:12111).
# Hosted payment page URLs are built from it; unset, from the address of the API call.
ENV_PUBLIC_URL: Final = "STRIPE_EMULATOR_PUBLIC_URL"

# Who pays on the hosted page unless told otherwise (Stripe's own test persona).
TEST_CUSTOMER_NAME: Final = "Jenny Rosen"
TEST_CUSTOMER_EMAIL: Final = "jenny.rosen@example.com"
TEST_CUSTOMER_ADDRESS: Final = {
    "city": "San Francisco",
    "country": "US",
    "line1": "510 Townsend St",
    "line2": None,
    "postal_code": "94103",
    "state": "CA",
}

-- depends: 0010.shop_secrets
-- Merchant API keys: one shop each, shown once, stored as the sha256 of a 256-bit secret.
CREATE TABLE api_keys (
    id            text PRIMARY KEY CHECK (id ~ '^[a-z0-9]{12,32}$'),
    shop_id       text NOT NULL REFERENCES shops (id),
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    secret_hash   text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz,
    revoked_at    timestamptz
);
CREATE INDEX api_keys_shop ON api_keys (shop_id, created_at);

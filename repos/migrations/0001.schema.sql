-- The whole data model of docs/architecture: Postgres is the single source of truth.
-- Money is bigint of minor units everywhere; the exponent of each currency is data.

CREATE TABLE currencies (
    code      text PRIMARY KEY CHECK (code ~ '^[a-z]{3}$'),
    exponent  smallint NOT NULL CHECK (exponent BETWEEN 0 AND 4)
);
INSERT INTO currencies (code, exponent) VALUES
    ('usd', 2), ('eur', 2), ('gbp', 2), ('chf', 2), ('sek', 2), ('jpy', 0), ('krw', 0),
    ('bhd', 3), ('kwd', 3);

CREATE TABLE shops (
    id                      text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    name                    text NOT NULL,
    currency                text NOT NULL REFERENCES currencies (code),
    stripe_api_key          text NOT NULL,
    stripe_webhook_secret   text,
    storefront_url          text NOT NULL,
    hold_ttl_seconds        integer NOT NULL DEFAULT 3600 CHECK (hold_ttl_seconds BETWEEN 1800 AND 86400),
    capture_mode            text NOT NULL DEFAULT 'immediate' CHECK (capture_mode IN ('immediate', 'delayed')),
    capture_window_seconds  integer NOT NULL DEFAULT 3600 CHECK (capture_window_seconds > 0),
    checkout_rate_limit     text,
    created_at              timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE products (
    shop_id      text NOT NULL REFERENCES shops (id),
    sku          text NOT NULL,
    product_code text NOT NULL,
    name         text NOT NULL,
    attributes   jsonb NOT NULL DEFAULT '{}'::jsonb,
    unit_amount  bigint NOT NULL CHECK (unit_amount >= 0),
    currency     text NOT NULL REFERENCES currencies (code),
    active       boolean NOT NULL DEFAULT true,
    PRIMARY KEY (shop_id, sku)
);

CREATE TABLE shipping_options (
    shop_id   text NOT NULL REFERENCES shops (id),
    id        text NOT NULL,
    name      text NOT NULL,
    amount    bigint NOT NULL CHECK (amount >= 0),
    active    boolean NOT NULL DEFAULT true,
    PRIMARY KEY (shop_id, id)
);

CREATE TABLE coupons (
    shop_id      text NOT NULL REFERENCES shops (id),
    code         text NOT NULL,
    percent_off  integer CHECK (percent_off BETWEEN 1 AND 100),
    amount_off   bigint CHECK (amount_off > 0),
    active       boolean NOT NULL DEFAULT true,
    PRIMARY KEY (shop_id, code),
    CHECK ((percent_off IS NULL) <> (amount_off IS NULL))
);

CREATE TABLE inventory_levels (
    shop_id   text NOT NULL,
    sku       text NOT NULL,
    location  text NOT NULL,
    priority  integer NOT NULL DEFAULT 0,
    on_hand   integer NOT NULL CHECK (on_hand >= 0),
    reserved  integer NOT NULL DEFAULT 0,
    PRIMARY KEY (shop_id, sku, location),
    FOREIGN KEY (shop_id, sku) REFERENCES products (shop_id, sku),
    CONSTRAINT reserved_within_on_hand CHECK (reserved >= 0 AND reserved <= on_hand)
);

CREATE TABLE checkouts (
    id                  uuid PRIMARY KEY,
    shop_id             text NOT NULL REFERENCES shops (id),
    idempotency_key     text NOT NULL,
    cart_hash           text NOT NULL,
    cart_id             text,
    lines               jsonb NOT NULL,
    subtotal            bigint NOT NULL CHECK (subtotal >= 0),
    discount            bigint NOT NULL DEFAULT 0 CHECK (discount >= 0),
    shipping            bigint NOT NULL DEFAULT 0 CHECK (shipping >= 0),
    total               bigint NOT NULL CHECK (total >= 0),
    currency            text NOT NULL REFERENCES currencies (code),
    shipping_option_id  text,
    coupon_code         text,
    capture_method      text NOT NULL DEFAULT 'automatic' CHECK (capture_method IN ('automatic', 'manual')),
    state               text NOT NULL DEFAULT 'pending'
                        CHECK (state IN ('pending', 'open', 'paid', 'fulfilled', 'stock_conflict', 'failed', 'expired')),
    stripe_session_id   text UNIQUE,
    stripe_session_url  text,
    expires_at          timestamptz NOT NULL,
    nonce_hash          text NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CHECK (total = subtotal - discount + shipping)
);
-- One live checkout per intent; a failed or expired one frees the intent for a new attempt.
CREATE UNIQUE INDEX checkouts_live_intent ON checkouts (shop_id, idempotency_key)
    WHERE state NOT IN ('failed', 'expired');
CREATE INDEX checkouts_open_expiry ON checkouts (expires_at) WHERE state IN ('pending', 'open');

CREATE TABLE inventory_holds (
    id           bigserial PRIMARY KEY,
    shop_id      text NOT NULL REFERENCES shops (id),
    checkout_id  uuid NOT NULL REFERENCES checkouts (id),
    location     text NOT NULL,
    state        text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'committed', 'released', 'expired')),
    expires_at   timestamptz NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (checkout_id, location)
);
CREATE INDEX inventory_holds_active_expiry ON inventory_holds (expires_at) WHERE state = 'active';

CREATE TABLE inventory_hold_lines (
    hold_id   bigint NOT NULL REFERENCES inventory_holds (id),
    sku       text NOT NULL,
    quantity  integer NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (hold_id, sku)
);

CREATE TABLE orders (
    id                          uuid PRIMARY KEY,
    reference                   text NOT NULL UNIQUE,
    shop_id                     text NOT NULL REFERENCES shops (id),
    checkout_id                 uuid NOT NULL REFERENCES checkouts (id),
    stripe_checkout_session_id  text NOT NULL,
    status                      text NOT NULL
                                CHECK (status IN ('paid', 'authorized', 'stock_conflict', 'captured', 'cancelled', 'refunded')),
    subtotal                    bigint NOT NULL CHECK (subtotal >= 0),
    discount                    bigint NOT NULL CHECK (discount >= 0),
    shipping                    bigint NOT NULL CHECK (shipping >= 0),
    total                       bigint NOT NULL CHECK (total >= 0),
    currency                    text NOT NULL REFERENCES currencies (code),
    customer_email              text,
    customer_name               text,
    shipping_address            jsonb,
    token_hash                  text NOT NULL,
    created_at                  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT orders_checkout_id_key UNIQUE (checkout_id),
    CONSTRAINT orders_stripe_checkout_session_id_key UNIQUE (stripe_checkout_session_id)
);

CREATE TABLE order_lines (
    id           bigserial PRIMARY KEY,
    order_id     uuid NOT NULL REFERENCES orders (id),
    sku          text NOT NULL,
    name         text NOT NULL,
    quantity     integer NOT NULL CHECK (quantity > 0),
    unit_amount  bigint NOT NULL CHECK (unit_amount >= 0),
    line_total   bigint NOT NULL CHECK (line_total >= 0),
    CHECK (line_total = unit_amount * quantity)
);

CREATE TABLE payments (
    id                        bigserial PRIMARY KEY,
    order_id                  uuid NOT NULL UNIQUE REFERENCES orders (id),
    stripe_payment_intent_id  text,
    amount                    bigint NOT NULL CHECK (amount >= 0),
    currency                  text NOT NULL REFERENCES currencies (code),
    status                    text NOT NULL,
    refunded_amount           bigint NOT NULL DEFAULT 0 CHECK (refunded_amount >= 0),
    created_at                timestamptz NOT NULL DEFAULT now(),
    CHECK (refunded_amount <= amount)
);

CREATE TABLE stripe_events (
    event_id      text PRIMARY KEY,
    shop_id       text NOT NULL REFERENCES shops (id),
    type          text NOT NULL,
    received_at   timestamptz NOT NULL DEFAULT now(),
    processed_at  timestamptz
);

CREATE TABLE outbox (
    id            bigserial PRIMARY KEY,
    shop_id       text NOT NULL REFERENCES shops (id),
    kind          text NOT NULL,
    payload       jsonb NOT NULL,
    dedupe_key    text NOT NULL,
    state         text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'enqueued', 'done', 'dead')),
    attempts      integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error    text,
    available_at  timestamptz NOT NULL DEFAULT now(),
    enqueued_at   timestamptz,
    done_at       timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT outbox_dedupe_key_key UNIQUE (dedupe_key)
);
CREATE INDEX outbox_due ON outbox (available_at) WHERE state = 'pending';
CREATE INDEX outbox_enqueued ON outbox (enqueued_at) WHERE state = 'enqueued';
CREATE INDEX outbox_dead ON outbox (id) WHERE state = 'dead';

-- Wake the relay the moment a row becomes due, instead of waiting for its next poll.
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('outbox', NEW.id::text);
    RETURN NULL;
END;
$$;
CREATE TRIGGER outbox_notify AFTER INSERT OR UPDATE OF state ON outbox
    FOR EACH ROW WHEN (NEW.state = 'pending') EXECUTE FUNCTION outbox_notify();

CREATE TABLE audit_events (
    id          bigserial PRIMARY KEY,
    shop_id     text NOT NULL,
    kind        text NOT NULL,
    subject     text,
    details     jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_events_kind ON audit_events (shop_id, kind);

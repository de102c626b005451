-- depends: 0003.checkout_lifecycle
-- Events out: what happened to a shop's orders and stock, for the merchant's other systems.
-- Every event is a row (the feed that `GET /admin/events?after=` pages through, by id), and
-- every delivery to a subscribed endpoint is an outbox row (at least once, with backoff).

CREATE TABLE merchant_webhook_endpoints (
    id           uuid PRIMARY KEY,
    shop_id      text NOT NULL REFERENCES shops (id),
    url          text NOT NULL CHECK (url ~ '^https?://'),
    secret       text NOT NULL,
    event_types  text[] NOT NULL DEFAULT '{}',
    active       boolean NOT NULL DEFAULT true,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX merchant_webhook_endpoints_shop ON merchant_webhook_endpoints (shop_id) WHERE active;

CREATE TABLE merchant_events (
    seq         bigserial PRIMARY KEY,
    id          text NOT NULL UNIQUE,
    shop_id     text NOT NULL REFERENCES shops (id),
    type        text NOT NULL,
    data        jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX merchant_events_feed ON merchant_events (shop_id, seq);

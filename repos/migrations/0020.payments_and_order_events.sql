-- depends: 0003.checkout_lifecycle
-- The modification window (issue 13): payments become records with their history, orders
-- keep a history of customer changes, and a delayed shop's window must end before Stripe
-- lets the authorization lapse (7 days; we allow at most 6).

ALTER TABLE orders DROP CONSTRAINT orders_status_check;
ALTER TABLE orders ADD CONSTRAINT orders_status_check CHECK (status IN (
    'paid', 'authorized', 'capturing', 'stock_conflict', 'captured', 'cancelled', 'refunded',
    'capture_failed'));

UPDATE shops SET capture_window_seconds = 518400
    WHERE capture_mode = 'delayed' AND capture_window_seconds > 518400;
ALTER TABLE shops ADD CONSTRAINT shops_window_before_authorization_lapses
    CHECK (capture_mode = 'immediate' OR capture_window_seconds <= 518400);

-- amount is what was authorized (manual capture) or charged (automatic capture).
ALTER TABLE payments
    ADD COLUMN capture_method   text NOT NULL DEFAULT 'automatic'
                                CHECK (capture_method IN ('automatic', 'manual')),
    ADD COLUMN captured_amount  bigint NOT NULL DEFAULT 0 CHECK (captured_amount >= 0),
    ADD COLUMN voided_amount    bigint NOT NULL DEFAULT 0 CHECK (voided_amount >= 0),
    ADD COLUMN updated_at       timestamptz NOT NULL DEFAULT now(),
    ADD CONSTRAINT payments_settled_within_amount CHECK (captured_amount + voided_amount <= amount);
UPDATE payments SET capture_method = 'manual' WHERE status = 'requires_capture';
UPDATE payments SET captured_amount = amount WHERE status IN ('succeeded', 'refunded');
CREATE INDEX payments_payment_intent ON payments (stripe_payment_intent_id);

-- Every movement of money on a payment, with the Stripe object that made it.
CREATE TABLE payment_events (
    id          bigserial PRIMARY KEY,
    payment_id  bigint NOT NULL REFERENCES payments (id),
    kind        text NOT NULL
                CHECK (kind IN ('authorized', 'charged', 'captured', 'voided', 'refunded',
                                'capture_failed')),
    amount      bigint NOT NULL CHECK (amount >= 0),
    stripe_id   text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payment_events_payment ON payment_events (payment_id);

-- Who changed an order, what, when, and the totals before and after. No personal data:
-- an address change records that it happened, not the address.
CREATE TABLE order_events (
    id               bigserial PRIMARY KEY,
    order_id         uuid NOT NULL REFERENCES orders (id),
    shop_id          text NOT NULL REFERENCES shops (id),
    kind             text NOT NULL,
    actor            text NOT NULL CHECK (actor IN ('customer', 'system')),
    idempotency_key  text,
    request_hash     text,
    total_before     bigint NOT NULL,
    total_after      bigint NOT NULL,
    details          jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT order_events_idempotency UNIQUE (order_id, idempotency_key)
);

-- depends: 0002.order_lines_index
-- Fulfilment is total: a checkout whose hold lapsed (or that expired or failed) can still be
-- paid later, and must then become an order or a refund.

-- The intent claim is a column, not the state: a checkout that expired or failed frees its
-- intent for a new attempt, and reviving it later (a late payment) must not take the intent
-- back from that attempt.
ALTER TABLE checkouts ADD COLUMN claims_intent boolean NOT NULL DEFAULT true;
UPDATE checkouts SET claims_intent = false WHERE state IN ('failed', 'expired');
DROP INDEX checkouts_live_intent;
CREATE UNIQUE INDEX checkouts_live_intent ON checkouts (shop_id, idempotency_key)
    WHERE claims_intent;
ALTER TABLE checkouts ADD CONSTRAINT checkouts_intent_claim CHECK (
    CASE WHEN state IN ('pending', 'open') THEN claims_intent
         WHEN state IN ('failed', 'expired', 'refunded') THEN NOT claims_intent
         ELSE true END);

-- 'paid' was never set; 'refunded' is a checkout whose money went back without an order
-- (pricing mismatch, or a fulfilment that failed for good).
ALTER TABLE checkouts DROP CONSTRAINT checkouts_state_check;
ALTER TABLE checkouts ADD CONSTRAINT checkouts_state_check
    CHECK (state IN ('pending', 'open', 'fulfilled', 'stock_conflict', 'failed', 'expired', 'refunded'));

-- A lapsed hold stays as history; a late payment places new holds beside it. At most one
-- hold per checkout and location is live (active or committed).
ALTER TABLE inventory_holds DROP CONSTRAINT inventory_holds_checkout_id_location_key;
CREATE UNIQUE INDEX inventory_holds_live ON inventory_holds (checkout_id, location)
    WHERE state IN ('active', 'committed');
CREATE INDEX inventory_holds_checkout ON inventory_holds (checkout_id);

-- How far the periodic reconciliation has walked each shop's Stripe events, and who is
-- walking them now (a lease, so one worker walks a shop at a time).
CREATE TABLE stripe_event_cursors (
    shop_id       text PRIMARY KEY REFERENCES shops (id),
    created_gte   bigint NOT NULL,
    leased_until  timestamptz,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

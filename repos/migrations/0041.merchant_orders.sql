-- depends: 0020.payments_and_order_events 0040.merchant_events
-- Orders for the merchant: listing by recency and status (keyset pagination on
-- (created_at, id)), shipping with a tracking reference, and changes made by the merchant.

CREATE INDEX orders_shop_recent ON orders (shop_id, created_at DESC, id DESC);
CREATE INDEX orders_shop_status_recent ON orders (shop_id, status, created_at DESC, id DESC);

ALTER TABLE orders ADD COLUMN fulfilled_at timestamptz;
ALTER TABLE orders ADD COLUMN tracking_reference text CHECK (length(tracking_reference) <= 100);
ALTER TABLE orders DROP CONSTRAINT orders_status_check;
ALTER TABLE orders ADD CONSTRAINT orders_status_check CHECK (status IN (
    'paid', 'authorized', 'capturing', 'stock_conflict', 'captured', 'cancelled', 'refunded',
    'capture_failed', 'fulfilled'));

ALTER TABLE order_events DROP CONSTRAINT order_events_actor_check;
ALTER TABLE order_events ADD CONSTRAINT order_events_actor_check
    CHECK (actor IN ('customer', 'system', 'merchant'));

-- What has been asked back from an order's payment, summed under the order lock before a
-- merchant refund is accepted (so concurrent refunds can never exceed what was captured).
CREATE INDEX outbox_refunds_by_order ON outbox ((payload->>'order_id')) WHERE kind = 'stripe.refund';

-- depends: 0040.merchant_events
-- Adding items to a placed order (issue 13): a supplementary checkout points at the order it
-- adds to, an order may have more than one payment (one per checkout that paid for it), and
-- each order line remembers which checkout paid for it. NULL in payments.checkout_id and
-- order_lines.checkout_id means the order's own checkout (every row written before this).

ALTER TABLE checkouts ADD COLUMN order_id uuid REFERENCES orders (id);
CREATE INDEX checkouts_order ON checkouts (order_id) WHERE order_id IS NOT NULL;

ALTER TABLE payments DROP CONSTRAINT payments_order_id_key;
ALTER TABLE payments ADD COLUMN checkout_id uuid UNIQUE REFERENCES checkouts (id);
CREATE INDEX payments_order ON payments (order_id);
-- An order has exactly one payment of its own checkout.
CREATE UNIQUE INDEX payments_one_original ON payments (order_id) WHERE checkout_id IS NULL;

ALTER TABLE order_lines ADD COLUMN checkout_id uuid REFERENCES checkouts (id);

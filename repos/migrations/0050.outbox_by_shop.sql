-- depends: 0040.merchant_events
-- transactional: false
-- The merchant console shows one shop's outbox: its depth by state, its oldest due pending
-- row and its dead rows. Without this index every look would scan the whole table. Built
-- CONCURRENTLY so that adding it to a large live outbox does not block writes.
CREATE INDEX CONCURRENTLY IF NOT EXISTS outbox_shop_state ON outbox (shop_id, state, available_at);

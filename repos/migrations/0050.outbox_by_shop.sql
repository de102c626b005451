-- depends: 0040.merchant_events
-- The merchant console shows one shop's outbox: its depth by state, its oldest waiting row
-- and its dead rows. Done rows are never deleted, so without this every look is a scan of
-- the whole table.
CREATE INDEX outbox_shop_state ON outbox (shop_id, state, available_at);

-- depends: 0003.checkout_lifecycle
-- transactional: false
-- Retention (workers/retention.py) deletes old done outbox rows, processed Stripe events and
-- expired checkouts in small batches, oldest first. Each batch finds its rows through one of
-- these partial indexes instead of scanning the table. Built CONCURRENTLY so that adding
-- them to a large live table does not block writes.
CREATE INDEX CONCURRENTLY IF NOT EXISTS outbox_done_at ON outbox (done_at) WHERE state = 'done';
CREATE INDEX CONCURRENTLY IF NOT EXISTS stripe_events_processed_at ON stripe_events (processed_at)
    WHERE processed_at IS NOT NULL;
CREATE INDEX CONCURRENTLY IF NOT EXISTS checkouts_expired_at ON checkouts (expires_at)
    WHERE state = 'expired';

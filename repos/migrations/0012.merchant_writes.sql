-- depends: 0011.api_keys
-- Merchant writes: replayable by Idempotency-Key per shop, audited by actor, and every
-- change of on-hand stock recorded in a ledger by a trigger, whatever code path made it.

CREATE TABLE merchant_idempotency_keys (
    shop_id      text NOT NULL REFERENCES shops (id),
    key          text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    fingerprint  text NOT NULL,
    status_code  smallint NOT NULL,
    response     jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (shop_id, key)
);

ALTER TABLE audit_events ADD COLUMN actor text;

CREATE TABLE stock_ledger (
    id             bigserial PRIMARY KEY,
    shop_id        text NOT NULL,
    sku            text NOT NULL,
    location       text NOT NULL,
    delta          integer NOT NULL CHECK (delta <> 0),
    on_hand_after  integer NOT NULL CHECK (on_hand_after >= 0),
    reason         text NOT NULL,
    actor          text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX stock_ledger_level ON stock_ledger (shop_id, sku, location, id);
CREATE INDEX stock_ledger_shop ON stock_ledger (shop_id, id);

-- The writer labels its transaction with set_config('kassa.stock_reason' / 'kassa.actor');
-- unlabelled movements (the checkout committing sold units) are recorded as 'checkout' by 'system'.
CREATE FUNCTION stock_ledger_record() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    old_on_hand integer := CASE WHEN TG_OP = 'INSERT' THEN 0 ELSE OLD.on_hand END;
BEGIN
    IF NEW.on_hand = old_on_hand THEN
        RETURN NULL;
    END IF;
    INSERT INTO stock_ledger (shop_id, sku, location, delta, on_hand_after, reason, actor)
    VALUES (NEW.shop_id, NEW.sku, NEW.location, NEW.on_hand - old_on_hand, NEW.on_hand,
            COALESCE(NULLIF(current_setting('kassa.stock_reason', true), ''), 'checkout'),
            COALESCE(NULLIF(current_setting('kassa.actor', true), ''), 'system'));
    RETURN NULL;
END;
$$;
CREATE TRIGGER stock_ledger_record AFTER INSERT OR UPDATE OF on_hand ON inventory_levels
    FOR EACH ROW EXECUTE FUNCTION stock_ledger_record();

-- depends: 0081.checkout_coupon_terms
-- An order keeps the length of its modification window (issue 13), as it keeps its prices:
-- the window is fixed when the order is placed, so an operator who changes the shop's
-- setting later neither reopens a closed order nor closes an open one. Orders from before
-- this migration take the shop's setting as it is now (the best that can be known).
ALTER TABLE orders ADD COLUMN window_seconds integer CHECK (window_seconds > 0);

UPDATE orders o SET window_seconds = s.capture_window_seconds FROM shops s WHERE s.id = o.shop_id;

ALTER TABLE orders ALTER COLUMN window_seconds SET NOT NULL;

-- A node still running the previous release during a rollout inserts orders without the
-- column: such an order takes the shop's setting at that moment, as the new code does.
CREATE FUNCTION orders_window_seconds() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.window_seconds IS NULL THEN
        SELECT capture_window_seconds INTO NEW.window_seconds FROM shops WHERE id = NEW.shop_id;
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER orders_window_seconds BEFORE INSERT ON orders
    FOR EACH ROW EXECUTE FUNCTION orders_window_seconds();

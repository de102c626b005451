-- depends: 0060.supplementary_payments
-- Wake the relay once per statement that makes outbox rows due, not once per row, and with
-- a constant payload: Postgres folds identical notifications of one transaction into one, so
-- an order's five or six outbox rows cost one notification instead of five or six (issue 12).
-- The relay never read the payload; a notification only wakes it to claim what is due.
DROP TRIGGER outbox_notify ON outbox;
DROP FUNCTION outbox_notify();

CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM changed WHERE state = 'pending') THEN
        PERFORM pg_notify('outbox', '');
    END IF;
    RETURN NULL;
END;
$$;
-- Transition tables rule out a column list (UPDATE OF state), so every UPDATE statement
-- looks at the rows it changed; those are the few rows a relay or worker just touched.
CREATE TRIGGER outbox_notify_insert AFTER INSERT ON outbox
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();
CREATE TRIGGER outbox_notify_update AFTER UPDATE ON outbox
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();

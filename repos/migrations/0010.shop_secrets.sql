-- depends: 0002.order_lines_index
-- Stripe keys and webhook secrets are stored encrypted (Fernet, keys from
-- KASSA_ENCRYPTION_KEYS). SQL cannot encrypt without the key, so the old plain-text
-- columns are renamed and kept nullable until `kassa migrate` (or
-- `kassa shop rotate-secrets`) moves each value into its ciphertext column and clears it.
ALTER TABLE shops RENAME COLUMN stripe_api_key TO plaintext_stripe_api_key;
ALTER TABLE shops RENAME COLUMN stripe_webhook_secret TO plaintext_stripe_webhook_secret;
ALTER TABLE shops ALTER COLUMN plaintext_stripe_api_key DROP NOT NULL;
ALTER TABLE shops
    ADD COLUMN stripe_api_key_ciphertext text,
    ADD COLUMN stripe_webhook_secret_ciphertext text,
    ADD CONSTRAINT shops_stripe_api_key_present
        CHECK (stripe_api_key_ciphertext IS NOT NULL OR plaintext_stripe_api_key IS NOT NULL);

-- depends: 0080.outbox_notify_per_statement
-- A checkout keeps the terms of the coupon it was sold with, as it keeps its prices: an
-- order change (issue 13) reprices with them, not with whatever the merchant has made of
-- the coupon since. Rows from before this migration take the coupon's terms as they are
-- now (the best that can be known); a coupon already deleted leaves both NULL.
ALTER TABLE checkouts
    ADD COLUMN coupon_percent_off integer CHECK (coupon_percent_off BETWEEN 1 AND 100),
    ADD COLUMN coupon_amount_off bigint CHECK (coupon_amount_off > 0);

UPDATE checkouts c
SET coupon_percent_off = k.percent_off, coupon_amount_off = k.amount_off
FROM coupons k
WHERE k.shop_id = c.shop_id AND k.code = c.coupon_code;

-- depends: 0081.checkout_coupon_terms
-- stock.low (issue 10): a shop's threshold of available units at or below which a SKU is
-- reported low. NULL, the default, sends no stock.low at all.
ALTER TABLE shops
    ADD COLUMN low_stock_threshold integer CHECK (low_stock_threshold >= 0);

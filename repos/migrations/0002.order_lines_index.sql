-- depends: 0001.schema
-- Order pages and confirmation emails read an order's lines by order id.
CREATE INDEX order_lines_order_id ON order_lines (order_id);

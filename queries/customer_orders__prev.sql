-- customer_orders as of the previous period's end, derived from this period's customer_orders
-- instead of a second pass over every order. pareto runs this file wherever
-- `customer_orders__prev` is needed (a file `name__prev.sql` does that for any query), so
-- customer_facts run one period back reads these sums: sums as of then are this period's minus
-- what came in the period (plus, for the twelve months, what the window drops at its far end).
-- It has the columns customer_facts reads, not the extra windows (dropped_*, prev_prev_*,
-- last_order_before) that only this derivation needs, and a window without orders sums to 0
-- where customer_orders has NULL (customer_facts reads both as 0); a test checks that customer_facts of the
-- previous period equals customer_facts run with the previous period's parameters, row for row.
SELECT
    c.customer_id,
    COALESCE(c.lifetime_revenue, 0) - COALESCE(c.period_revenue, 0)                                  AS lifetime_revenue,
    COALESCE(c.lifetime_margin, 0) - COALESCE(c.period_margin, 0)                                    AS lifetime_margin,
    c.orders - c.period_orders                                                                       AS orders,
    c.first_order_at,
    c.last_order_before                                                                              AS last_order_at,
    COALESCE(c.revenue_12m, 0) - COALESCE(c.period_revenue, 0) + COALESCE(c.dropped_revenue_12m, 0) AS revenue_12m,
    COALESCE(c.margin_12m, 0) - COALESCE(c.period_margin, 0) + COALESCE(c.dropped_margin_12m, 0)    AS margin_12m,
    c.prev_period_revenue                                                                            AS period_revenue,
    c.prev_period_orders                                                                             AS period_orders,
    c.prev_prev_period_revenue                                                                       AS prev_period_revenue,
    c.prev_prev_period_orders                                                                        AS prev_period_orders
FROM customer_orders AS c
-- customers with an order before the previous period's end
WHERE c.orders > c.period_orders

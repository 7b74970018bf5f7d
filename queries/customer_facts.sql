-- One row per customer who had signed up by the end of the period: segment tags and value, as of
-- the period's end (so a rerun of the same period gives the same figures).
--   company_size, tenure_band, age_band, …   the segment tags, from customer_segments
--   lifetime_*    all orders before the period's end; margin counts orders whose cost is known
--                 (the order sums come from customer_orders, one pass over orders)
--   current_mrr   MRR billed for the month holding the period's last day (0 when not billed)
-- A customer with no orders or subscription has zeros, not a missing row.
-- pareto: optional subscriptions
WITH o AS (
    SELECT * FROM customer_orders
),
s AS (
    SELECT customer_id, SUM(mrr) AS current_mrr
    FROM subscriptions
    WHERE month = CAST(date_trunc('month', $period_end_date - INTERVAL '1 day') AS DATE)
    GROUP BY customer_id
),
r AS (
    SELECT referred_by AS customer_id, COUNT(*) AS referrals
    FROM customers
    WHERE referred_by IS NOT NULL AND signup_date < $period_end_date
    GROUP BY referred_by
)
SELECT
    -- every column of customer_segments: a tag added there is a column here too
    c.*,
    COALESCE(o.lifetime_revenue, 0)                             AS lifetime_revenue,
    COALESCE(o.lifetime_margin, 0)                              AS lifetime_margin,
    COALESCE(o.orders, 0)                                       AS orders,
    o.first_order_at,
    o.last_order_at,
    COALESCE(o.revenue_12m, 0)                                  AS revenue_12m,
    COALESCE(o.margin_12m, 0)                                   AS margin_12m,
    COALESCE(o.period_revenue, 0)                               AS period_revenue,
    COALESCE(o.period_orders, 0)                                AS period_orders,
    COALESCE(o.prev_period_revenue, 0)                          AS prev_period_revenue,
    COALESCE(o.prev_period_orders, 0)                           AS prev_period_orders,
    COALESCE(s.current_mrr, 0)                                  AS current_mrr,
    12 * COALESCE(s.current_mrr, 0)                             AS arr,
    COALESCE(r.referrals, 0)                                    AS referrals
FROM customer_segments AS c
LEFT JOIN o ON o.customer_id = c.customer_id
LEFT JOIN s ON s.customer_id = c.customer_id
LEFT JOIN r ON r.customer_id = c.customer_id

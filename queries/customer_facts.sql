-- One row per customer who had signed up by the end of the period: segment tags and value, as of
-- the period's end (so a rerun of the same period gives the same figures).
--   company_size  from employees; thresholds are job params size_smb, size_mid, size_enterprise
--   tenure_band   Trial (< 14 days), First90 (< 90), FirstYear (< 365), Veteran
--   age_band      from birth_year where present, else Unknown
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
    c.customer_id,
    c.name,
    c.country,
    c.region,
    c.industry,
    c.signup_date,
    CASE
        WHEN c.employees IS NULL THEN 'Unknown'
        WHEN c.employees < $size_smb THEN 'Solo'
        WHEN c.employees < $size_mid THEN 'SMB'
        WHEN c.employees < $size_enterprise THEN 'Mid-market'
        ELSE 'Enterprise'
    END                                                         AS company_size,
    $period_end_date - c.signup_date                            AS tenure_days,
    CASE
        WHEN $period_end_date - c.signup_date < 14 THEN 'Trial'
        WHEN $period_end_date - c.signup_date < 90 THEN 'First90'
        WHEN $period_end_date - c.signup_date < 365 THEN 'FirstYear'
        ELSE 'Veteran'
    END                                                         AS tenure_band,
    CASE
        WHEN c.birth_year IS NULL THEN 'Unknown'
        WHEN date_part('year', $period_end_date) - c.birth_year < 30 THEN 'Under 30'
        WHEN date_part('year', $period_end_date) - c.birth_year < 45 THEN '30-44'
        WHEN date_part('year', $period_end_date) - c.birth_year < 60 THEN '45-59'
        ELSE '60 and over'
    END                                                         AS age_band,
    COALESCE(c.strategic, false)                                AS strategic,
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
FROM customers AS c
LEFT JOIN o ON o.customer_id = c.customer_id
LEFT JOIN s ON s.customer_id = c.customer_id
LEFT JOIN r ON r.customer_id = c.customer_id
WHERE c.signup_date < $period_end_date

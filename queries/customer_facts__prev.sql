-- customer_facts as of the previous period's end, made from this period's customer_orders
-- instead of a second pass over every order: the columns and their meaning are customer_facts',
-- with the previous period as "the period" (its end is this period's start). Sums as of then are
-- this period's minus what came in the period (plus, for the twelve months, what the window
-- drops at its far end). pareto runs this instead of customer_facts with the previous period's
-- parameters (a file `name__prev.sql` does that for any query), and a test checks that both give
-- the same rows.
-- pareto: optional subscriptions
WITH o AS (
    SELECT
        c.customer_id,
        COALESCE(c.lifetime_revenue, 0) - COALESCE(c.period_revenue, 0)                   AS lifetime_revenue,
        COALESCE(c.lifetime_margin, 0) - COALESCE(c.period_margin, 0)                     AS lifetime_margin,
        c.orders - c.period_orders                                                        AS orders,
        CASE WHEN c.first_order_at < $period_start THEN c.first_order_at END              AS first_order_at,
        c.last_order_before                                                               AS last_order_at,
        COALESCE(c.revenue_12m, 0) - COALESCE(c.period_revenue, 0) + COALESCE(c.dropped_revenue_12m, 0) AS revenue_12m,
        COALESCE(c.margin_12m, 0) - COALESCE(c.period_margin, 0) + COALESCE(c.dropped_margin_12m, 0)    AS margin_12m,
        c.prev_period_revenue                                                             AS period_revenue,
        c.prev_period_orders                                                              AS period_orders,
        c.prev_prev_period_revenue                                                        AS prev_period_revenue,
        c.prev_prev_period_orders                                                         AS prev_period_orders
    FROM customer_orders AS c
),
s AS (
    SELECT customer_id, SUM(mrr) AS current_mrr
    FROM subscriptions
    WHERE month = CAST(date_trunc('month', $period_start_date - INTERVAL '1 day') AS DATE)
    GROUP BY customer_id
),
r AS (
    SELECT referred_by AS customer_id, COUNT(*) AS referrals
    FROM customers
    WHERE referred_by IS NOT NULL AND signup_date < $period_start_date
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
    $period_start_date - c.signup_date                            AS tenure_days,
    CASE
        WHEN $period_start_date - c.signup_date < 14 THEN 'Trial'
        WHEN $period_start_date - c.signup_date < 90 THEN 'First90'
        WHEN $period_start_date - c.signup_date < 365 THEN 'FirstYear'
        ELSE 'Veteran'
    END                                                         AS tenure_band,
    CASE
        WHEN c.birth_year IS NULL THEN 'Unknown'
        WHEN date_part('year', $period_start_date) - c.birth_year < 30 THEN 'Under 30'
        WHEN date_part('year', $period_start_date) - c.birth_year < 45 THEN '30-44'
        WHEN date_part('year', $period_start_date) - c.birth_year < 60 THEN '45-59'
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
WHERE c.signup_date < $period_start_date

-- Headline figures for the period, each with the previous period's beside it for the change.
-- ARR and paying customers are as of each period's end (the month holding its last day).
WITH o AS (
    SELECT
        SUM(CASE WHEN ordered_at >= $period_start THEN amount END)                  AS revenue,
        SUM(CASE WHEN ordered_at <  $period_start THEN amount END)                  AS prev_revenue,
        COUNT(CASE WHEN ordered_at >= $period_start THEN 1 END)                     AS orders,
        COUNT(CASE WHEN ordered_at <  $period_start THEN 1 END)                     AS prev_orders,
        COUNT(DISTINCT CASE WHEN ordered_at >= $period_start THEN customer_id END)  AS active_customers,
        COUNT(DISTINCT CASE WHEN ordered_at <  $period_start THEN customer_id END)  AS prev_active_customers
    FROM orders
    WHERE ordered_at >= $prev_period_start AND ordered_at < $period_end
),
c AS (
    SELECT
        COUNT(CASE WHEN signup_date >= $period_start_date AND signup_date < $period_end_date THEN 1 END)        AS new_customers,
        COUNT(CASE WHEN signup_date >= $prev_period_start_date AND signup_date < $period_start_date THEN 1 END) AS prev_new_customers
    FROM customers
),
a AS (
    SELECT SUM(arr) AS arr, COUNT(CASE WHEN arr > 0 THEN 1 END) AS paying_customers FROM customer_facts
),
ap AS (
    SELECT SUM(arr) AS prev_arr, COUNT(CASE WHEN arr > 0 THEN 1 END) AS prev_paying_customers FROM customer_facts__prev
)
SELECT
    o.revenue,
    o.prev_revenue,
    o.orders,
    o.prev_orders,
    CAST(o.revenue AS DOUBLE) / NULLIF(o.orders, 0)           AS aov,
    CAST(o.prev_revenue AS DOUBLE) / NULLIF(o.prev_orders, 0) AS prev_aov,
    o.active_customers,
    o.prev_active_customers,
    c.new_customers,
    c.prev_new_customers,
    a.arr,
    ap.prev_arr,
    a.paying_customers,
    ap.prev_paying_customers
FROM o CROSS JOIN c CROSS JOIN a CROSS JOIN ap

-- Customers ranked by revenue, on two bases: lifetime revenue and the period's revenue, among
-- customers with revenue above zero. Read by pareto and pareto_curve.
--   desc_rank  1 = the largest (ties by customer_id);  asc_rank  1 = the smallest
--   cum_desc, cum_asc  running totals in those orders;  n, total  per basis
-- The ascending order is the descending one reversed (ties by customer_id the other way), so one
-- sort gives both: asc_rank = n + 1 − desc_rank, cum_asc = total − cum_desc + revenue.
-- Not archived: a row per customer and basis (19 MB a week at a million customers), all of it
-- derived from customer_facts, which is.
-- pareto: archive off
WITH x AS (
    SELECT 'lifetime' AS basis, customer_id, lifetime_revenue AS revenue FROM customer_facts WHERE lifetime_revenue > 0
    UNION ALL
    SELECT 'period' AS basis, customer_id, period_revenue AS revenue FROM customer_facts WHERE period_revenue > 0
),
ranked AS (
    SELECT
        basis,
        customer_id,
        revenue,
        ROW_NUMBER() OVER (PARTITION BY basis ORDER BY revenue DESC, customer_id)                          AS desc_rank,
        SUM(revenue) OVER (PARTITION BY basis ORDER BY revenue DESC, customer_id ROWS UNBOUNDED PRECEDING) AS cum_desc
    FROM x
),
totals AS (
    SELECT basis, COUNT(*) AS n, SUM(revenue) AS total FROM x GROUP BY basis
)
SELECT
    r.basis,
    r.customer_id,
    r.revenue,
    r.desc_rank,
    CAST(t.n + 1 - r.desc_rank AS BIGINT) AS asc_rank,
    r.cum_desc,
    t.total - r.cum_desc + r.revenue   AS cum_asc,
    t.n,
    t.total
FROM ranked AS r
JOIN totals AS t ON t.basis = r.basis

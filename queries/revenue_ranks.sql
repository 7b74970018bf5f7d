-- Customers ranked by revenue, on two bases: lifetime revenue and the period's revenue, among
-- customers with revenue above zero. Read by pareto and pareto_curve.
--   desc_rank  1 = the largest (ties by customer_id);  asc_rank  1 = the smallest
--   cum_desc, cum_asc  running totals in those orders;  n, total  per basis
WITH x AS (
    SELECT 'lifetime' AS basis, customer_id, lifetime_revenue AS revenue FROM customer_facts WHERE lifetime_revenue > 0
    UNION ALL
    SELECT 'period' AS basis, customer_id, period_revenue AS revenue FROM customer_facts WHERE period_revenue > 0
)
SELECT
    basis,
    customer_id,
    revenue,
    ROW_NUMBER() OVER (PARTITION BY basis ORDER BY revenue DESC, customer_id)                              AS desc_rank,
    ROW_NUMBER() OVER (PARTITION BY basis ORDER BY revenue ASC, customer_id DESC)                          AS asc_rank,
    SUM(revenue) OVER (PARTITION BY basis ORDER BY revenue DESC, customer_id ROWS UNBOUNDED PRECEDING)     AS cum_desc,
    SUM(revenue) OVER (PARTITION BY basis ORDER BY revenue ASC, customer_id DESC ROWS UNBOUNDED PRECEDING) AS cum_asc,
    COUNT(*) OVER (PARTITION BY basis)                                                                      AS n,
    SUM(revenue) OVER (PARTITION BY basis)                                                                  AS total
FROM x

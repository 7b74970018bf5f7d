-- The Lorenz curve as 100 points per basis (lifetime, period): the share of revenue that the
-- bottom p % of customers bring, customers sorted by revenue ascending (p = 1 … 100).
WITH x AS (
    SELECT 'lifetime' AS basis, customer_id, lifetime_revenue AS revenue FROM customer_facts WHERE lifetime_revenue > 0
    UNION ALL
    SELECT 'period' AS basis, customer_id, period_revenue AS revenue FROM customer_facts WHERE period_revenue > 0
),
r AS (
    SELECT
        basis,
        ROW_NUMBER() OVER (PARTITION BY basis ORDER BY revenue ASC, customer_id DESC)                      AS asc_rank,
        SUM(revenue) OVER (PARTITION BY basis ORDER BY revenue ASC, customer_id DESC ROWS UNBOUNDED PRECEDING) AS cum_asc,
        COUNT(*) OVER (PARTITION BY basis)                                                                  AS n,
        SUM(revenue) OVER (PARTITION BY basis)                                                              AS total
    FROM x
)
SELECT
    r.basis,
    p.value                                          AS customer_pct,
    CAST(r.cum_asc AS DOUBLE) / CAST(r.total AS DOUBLE) AS revenue_share
FROM generate_series(1, 100) AS p
JOIN r ON r.asc_rank = (p.value * r.n + 99) / 100
ORDER BY r.basis, p.value

-- Concentration: how much of the revenue the top customers bring, over lifetime revenue and over
-- the period's revenue, among customers with revenue above zero.
--   top20_share      revenue share of the top ⌈0.2·n⌉ customers (ties broken by customer_id)
--   customers_to_80  the fewest customers whose revenue reaches 80 % of the total
--   gini             2·Σ i·xᵢ / (n·Σ x) − (n+1)/n, with x sorted ascending
WITH x AS (
    SELECT 'lifetime' AS basis, customer_id, lifetime_revenue AS revenue FROM customer_facts WHERE lifetime_revenue > 0
    UNION ALL
    SELECT 'period' AS basis, customer_id, period_revenue AS revenue FROM customer_facts WHERE period_revenue > 0
),
r AS (
    SELECT
        basis,
        customer_id,
        revenue,
        ROW_NUMBER() OVER (PARTITION BY basis ORDER BY revenue DESC, customer_id)                          AS desc_rank,
        ROW_NUMBER() OVER (PARTITION BY basis ORDER BY revenue ASC, customer_id DESC)                      AS asc_rank,
        SUM(revenue) OVER (PARTITION BY basis ORDER BY revenue DESC, customer_id ROWS UNBOUNDED PRECEDING) AS cum_desc,
        COUNT(*) OVER (PARTITION BY basis)                                                                  AS n,
        SUM(revenue) OVER (PARTITION BY basis)                                                              AS total
    FROM x
)
SELECT
    basis,
    MAX(n)                                                                        AS customers,
    MAX(total)                                                                    AS revenue,
    (MAX(n) + 4) / 5                                                              AS top20_customers,
    CAST(SUM(CASE WHEN desc_rank <= (n + 4) / 5 THEN revenue END) AS DOUBLE) / CAST(MAX(total) AS DOUBLE) AS top20_share,
    MIN(CASE WHEN cum_desc * 5 >= total * 4 THEN desc_rank END)                   AS customers_to_80,
    CAST(MIN(CASE WHEN cum_desc * 5 >= total * 4 THEN desc_rank END) AS DOUBLE) / MAX(n) AS share_to_80,
    2.0 * SUM(asc_rank * CAST(revenue AS DOUBLE)) / (MAX(n) * CAST(MAX(total) AS DOUBLE)) - (MAX(n) + 1.0) / MAX(n) AS gini
FROM r
GROUP BY basis
ORDER BY basis

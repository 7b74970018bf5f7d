-- Concentration: how much of the revenue the top customers bring, over lifetime revenue and over
-- the period's revenue, among customers with revenue above zero (see revenue_ranks).
--   top20_share      revenue share of the top ⌈0.2·n⌉ customers (ties broken by customer_id)
--   customers_to_80  the fewest customers whose revenue reaches 80 % of the total
--   gini             2·Σ i·xᵢ / (n·Σ x) − (n+1)/n, with x sorted ascending
-- Sums are exact (decimal) and divided last, so the figures do not depend on the order rows are
-- added in.
SELECT
    basis,
    MAX(n)                                                                        AS customers,
    MAX(total)                                                                    AS revenue,
    (MAX(n) + 4) / 5                                                              AS top20_customers,
    CAST(SUM(CASE WHEN desc_rank <= (n + 4) / 5 THEN revenue END) AS DOUBLE) / CAST(MAX(total) AS DOUBLE) AS top20_share,
    MIN(CASE WHEN cum_desc * 5 >= total * 4 THEN desc_rank END)                   AS customers_to_80,
    CAST(MIN(CASE WHEN cum_desc * 5 >= total * 4 THEN desc_rank END) AS DOUBLE) / MAX(n) AS share_to_80,
    2.0 * CAST(SUM(asc_rank * revenue) AS DOUBLE) / (MAX(n) * CAST(MAX(total) AS DOUBLE)) - (MAX(n) + 1.0) / MAX(n) AS gini
FROM revenue_ranks
GROUP BY basis
ORDER BY basis

-- The Lorenz curve as 100 points per basis (lifetime, period): the share of revenue that the
-- bottom p % of customers bring, customers sorted by revenue ascending (p = 1 … 100).
SELECT
    r.basis,
    p.value                                             AS customer_pct,
    CAST(r.cum_asc AS DOUBLE) / CAST(r.total AS DOUBLE) AS revenue_share
FROM generate_series(1, 100) AS p
JOIN revenue_ranks AS r ON r.asc_rank = (p.value * r.n + 99) / 100
ORDER BY r.basis, p.value

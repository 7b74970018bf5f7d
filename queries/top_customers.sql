-- The customers who brought the most revenue in the period.
SELECT
    f.customer_id,
    f.name,
    f.company_size,
    f.country,
    COUNT(*)       AS orders,
    SUM(o.amount)  AS revenue,
    CAST(SUM(o.amount) AS DOUBLE)
        / NULLIF(CAST(SUM(SUM(o.amount)) OVER () AS DOUBLE), 0) AS revenue_share
FROM orders AS o
JOIN customer_facts AS f ON f.customer_id = o.customer_id
WHERE o.ordered_at >= $period_start AND o.ordered_at < $period_end
GROUP BY f.customer_id, f.name, f.company_size, f.country
ORDER BY revenue DESC, f.customer_id
LIMIT $top_n

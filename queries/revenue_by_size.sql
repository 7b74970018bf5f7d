-- Revenue in the period by company size: its share, the previous period's revenue and the change
-- (null when there was none before).
WITH rev AS (
    SELECT
        f.company_size,
        SUM(CASE WHEN o.ordered_at >= $period_start THEN o.amount ELSE 0 END) AS revenue,
        SUM(CASE WHEN o.ordered_at <  $period_start THEN o.amount ELSE 0 END) AS prev_revenue,
        COUNT(DISTINCT CASE WHEN o.ordered_at >= $period_start THEN o.customer_id END) AS customers
    FROM orders AS o
    JOIN customer_facts AS f ON f.customer_id = o.customer_id
    WHERE o.ordered_at >= $prev_period_start AND o.ordered_at < $period_end
    GROUP BY f.company_size
)
SELECT
    company_size AS segment,
    customers,
    revenue,
    CAST(revenue AS DOUBLE) / NULLIF(SUM(CAST(revenue AS DOUBLE)) OVER (), 0) AS revenue_share,
    prev_revenue,
    CAST(revenue - prev_revenue AS DOUBLE) / NULLIF(CAST(prev_revenue AS DOUBLE), 0) AS revenue_change
FROM rev
ORDER BY revenue DESC, segment

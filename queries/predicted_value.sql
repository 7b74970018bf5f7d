-- Predicted value by value tier and by company size, beside what the same customers brought in
-- the twelve months to the period's end. From the [prediction] model (table clv), over customers
-- with at least one purchase (the model knows no others):
--   revenue_12m           their revenue in the twelve months to the period's end
--   predicted_revenue     expected purchases over the model's horizon × expected purchase value
--   discounted_value      the same, discounted to the period's end at the model's yearly rate (the
--                         sum of the customers' predicted_clv)
--   active_share          mean P(alive): the share of them the model expects to still be buying
--   slipping              customers whose P(alive) fell below $slipping_below this period, from at
--                         or above it at the previous period's end (slipping_share: of customers)
--   revenue_12m_slipping  their twelve-month revenue
WITH c AS (
    SELECT
        f.company_size,
        v.tier,
        f.revenue_12m,
        -- Exact decimals, so the sums are the same whatever order the rows are added in.
        CAST(c.p_alive AS DECIMAL(20, 9))            AS p_alive,
        CAST(c.predicted_revenue AS DECIMAL(18, 2))  AS predicted_revenue,
        CAST(c.predicted_clv AS DECIMAL(18, 2))      AS predicted_clv,
        COALESCE(c.p_alive < $slipping_below AND p.p_alive >= $slipping_below, false) AS slipping
    FROM clv AS c
    JOIN customer_facts AS f ON f.customer_id = c.customer_id
    JOIN value_tiers AS v ON v.customer_id = c.customer_id
    LEFT JOIN clv__prev AS p ON p.customer_id = c.customer_id
),
by_segment AS (
    SELECT 'value_tier' AS dimension, tier AS segment, * FROM c
    UNION ALL
    SELECT 'company_size' AS dimension, company_size AS segment, * FROM c
)
SELECT
    b.dimension,
    b.segment,
    COUNT(*)                                                 AS customers,
    SUM(b.revenue_12m)                                       AS revenue_12m,
    SUM(b.predicted_revenue)                                 AS predicted_revenue,
    SUM(b.predicted_clv)                                     AS discounted_value,
    CAST(SUM(b.p_alive) AS DOUBLE) / COUNT(*)                AS active_share,
    COUNT(*) FILTER (WHERE b.slipping)                       AS slipping,
    CAST(COUNT(*) FILTER (WHERE b.slipping) AS DOUBLE) / COUNT(*) AS slipping_share,
    COALESCE(SUM(b.revenue_12m) FILTER (WHERE b.slipping), 0) AS revenue_12m_slipping,
    $slipping_below                                          AS slipping_below
FROM by_segment AS b
LEFT JOIN service_levels AS s ON b.dimension = 'value_tier' AND s.tier = b.segment
GROUP BY b.dimension, b.segment
ORDER BY b.dimension DESC, MIN(COALESCE(s.position, 99)), SUM(b.revenue_12m) DESC, b.segment

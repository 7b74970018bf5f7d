-- Segment value in long format: one row per (dimension, segment), so one table shows every cut.
--   customers            customers who had signed up by the period's end
--   revenue, orders      in the period; revenue_share is within the dimension
--   aov                  revenue / orders in the period
--   orders_per_customer  orders in the period / customers
--   ltv                  mean lifetime revenue per customer
--   arr                  12 × MRR billed for the month holding the period's last day
--   arpa                 ARR / paying customers (those with ARR above zero)
--   prev_revenue         the previous period's revenue, for the change
WITH base AS (
    SELECT f.*, COALESCE(v.tier, 'Unscored') AS value_tier
    FROM customer_facts AS f
    LEFT JOIN value_tiers AS v ON v.customer_id = f.customer_id
),
cuts AS (
    SELECT
        d.dimension,
        d.position,
        CASE d.dimension
            WHEN 'company_size' THEN b.company_size
            WHEN 'tenure'       THEN b.tenure_band
            WHEN 'region'       THEN b.region
            WHEN 'industry'     THEN b.industry
            WHEN 'value_tier'   THEN b.value_tier
        END AS segment,
        b.period_revenue,
        b.period_orders,
        b.prev_period_revenue,
        b.lifetime_revenue,
        b.arr
    FROM base AS b
    CROSS JOIN (VALUES ('value_tier', 1), ('company_size', 2), ('tenure', 3), ('region', 4), ('industry', 5)) AS d(dimension, position)
),
agg AS (
    SELECT
        dimension,
        MIN(position)                                   AS position,
        segment,
        COUNT(*)                                        AS customers,
        SUM(period_revenue)                             AS revenue,
        SUM(period_orders)                              AS orders,
        CAST(SUM(lifetime_revenue) AS DOUBLE) / COUNT(*) AS ltv,
        SUM(arr)                                        AS arr,
        COUNT(CASE WHEN arr > 0 THEN 1 END)             AS paying_customers,
        SUM(prev_period_revenue)                        AS prev_revenue
    FROM cuts
    GROUP BY dimension, segment
)
SELECT
    dimension,
    segment,
    customers,
    revenue,
    CAST(revenue AS DOUBLE) / NULLIF(CAST(SUM(revenue) OVER (PARTITION BY dimension) AS DOUBLE), 0) AS revenue_share,
    CAST(revenue AS DOUBLE) / NULLIF(orders, 0)                          AS aov,
    CAST(orders AS DOUBLE) / customers                                   AS orders_per_customer,
    ltv,
    arr,
    CAST(arr AS DOUBLE) / NULLIF(paying_customers, 0)                    AS arpa,
    prev_revenue,
    CAST(revenue - prev_revenue AS DOUBLE) / NULLIF(CAST(prev_revenue AS DOUBLE), 0) AS revenue_change
FROM agg
ORDER BY position, revenue DESC, segment

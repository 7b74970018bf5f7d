-- How the [prediction] model's expectations held up: the customers it knew at the previous
-- period's end (clv__prev: this run's fit applied to where they stood then), by their repeat
-- purchases then (0 to 6, 7+), with the purchases it expected of them in this period and those
-- they made (days with an order, as the model counts).
WITH made AS (
    SELECT customer_id, COUNT(DISTINCT CAST(ordered_at AS DATE)) AS purchases
    FROM orders
    WHERE ordered_at >= $period_start AND ordered_at < $period_end
    GROUP BY customer_id
),
k AS (
    SELECT
        LEAST(p.frequency, 7)                 AS bucket,
        CAST(p.expected_next_period AS DECIMAL(20, 9)) AS expected,   -- exact sums, in any order
        COALESCE(m.purchases, 0)              AS actual
    FROM clv__prev AS p
    LEFT JOIN made AS m ON m.customer_id = p.customer_id
),
rows AS (
    SELECT bucket, COUNT(*) AS customers, SUM(expected) AS expected, SUM(actual) AS actual FROM k GROUP BY bucket
    UNION ALL
    SELECT 99 AS bucket, COUNT(*), SUM(expected), SUM(actual) FROM k
)
SELECT
    CASE WHEN bucket = 99 THEN 'All' WHEN bucket = 7 THEN '7 or more' ELSE CAST(bucket AS VARCHAR) END
                                                                      AS repeat_purchases_before,
    customers,
    CAST(expected AS DOUBLE)                                          AS expected_purchases,
    actual                                                            AS actual_purchases,
    CAST(actual AS DOUBLE) / NULLIF(CAST(expected AS DOUBLE), 0) - 1  AS actual_vs_expected_change
FROM rows
ORDER BY bucket

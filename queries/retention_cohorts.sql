-- Retention by signup cohort: for customers who signed up in each of the last twelve months
-- (to the month holding the period's last day), how many were active — ordered or were billed —
-- in each month since, and that as a share of the cohort. Months are calendar months in UTC.
-- Only the cohorts' own activity in those twelve months is read: orders and billing from before
-- the first cohort month cannot count, so they are filtered out before the join.
-- pareto: optional subscriptions
WITH cohort AS (
    SELECT customer_id, CAST(date_trunc('month', signup_date) AS DATE) AS cohort
    FROM customers
    WHERE signup_date < $period_end_date
      AND signup_date >= CAST(date_trunc('month', $period_end_date - INTERVAL '1 day') - INTERVAL '11 months' AS DATE)
),
-- the cohorts' orders and billing in those months (joined to the cohorts before an order's month
-- is worked out, so that only the cohorts' orders need one)
active AS (
    -- (the month of the UTC time: truncating a time zone-aware timestamp looks up the zone for
    -- every row and takes four times as long as truncating its UTC wall-clock time)
    SELECT c.customer_id, c.cohort, CAST(date_trunc('month', arrow_cast(o.ordered_at, 'Timestamp(Microsecond, None)')) AS DATE) AS month
    FROM cohort AS c
    JOIN orders AS o ON o.customer_id = c.customer_id
    WHERE o.ordered_at < $period_end
      AND o.ordered_at >= $period_end - INTERVAL '13 months'
    UNION ALL
    SELECT c.customer_id, c.cohort, s.month
    FROM cohort AS c
    JOIN subscriptions AS s ON s.customer_id = c.customer_id
    WHERE s.month <= CAST(date_trunc('month', $period_end_date - INTERVAL '1 day') AS DATE)
      AND s.month >= CAST(date_trunc('month', $period_end_date - INTERVAL '1 day') - INTERVAL '11 months' AS DATE)
),
sizes AS (
    SELECT cohort, COUNT(*) AS cohort_customers FROM cohort GROUP BY cohort
),
-- each cohort customer's active months, once each (grouping, then counting rows, spreads over
-- every core; a COUNT(DISTINCT …) per cohort and month merges its sets on one)
active_months AS (
    SELECT customer_id, cohort, month
    FROM active
    WHERE month >= cohort
    GROUP BY customer_id, cohort, month
),
counts AS (
    SELECT
        cohort,
        CAST((date_part('year', month) - date_part('year', cohort)) * 12
             + date_part('month', month) - date_part('month', cohort) AS BIGINT) AS months_since,
        COUNT(*) AS active_customers
    FROM active_months
    GROUP BY 1, 2
)
SELECT
    k.cohort,
    k.months_since,
    s.cohort_customers,
    k.active_customers,
    CAST(k.active_customers AS DOUBLE) / s.cohort_customers AS retention
FROM counts AS k
JOIN sizes AS s ON s.cohort = k.cohort
ORDER BY k.cohort, k.months_since

-- Retention by signup-month cohort: for customers who signed up in each of the last twelve months
-- (to the month holding the period's last day), how many were active — ordered or were billed —
-- in each month since, and that as a share of the cohort. Months are calendar months in UTC.
-- pareto: optional subscriptions
WITH bounds AS (
    SELECT CAST(date_trunc('month', $period_end_date - INTERVAL '1 day') AS DATE) AS last_month
),
cohort AS (
    SELECT c.customer_id, CAST(date_trunc('month', c.signup_date) AS DATE) AS cohort
    FROM customers AS c CROSS JOIN bounds AS b
    WHERE c.signup_date < $period_end_date
      AND c.signup_date >= CAST(b.last_month - INTERVAL '11 months' AS DATE)
),
active AS (
    SELECT customer_id, CAST(date_trunc('month', ordered_at) AS DATE) AS month FROM orders WHERE ordered_at < $period_end
    UNION
    SELECT s.customer_id, s.month FROM subscriptions AS s CROSS JOIN bounds AS b WHERE s.month <= b.last_month
),
sizes AS (
    SELECT cohort, COUNT(*) AS cohort_customers FROM cohort GROUP BY cohort
),
counts AS (
    SELECT
        c.cohort,
        CAST((date_part('year', a.month) - date_part('year', c.cohort)) * 12
             + date_part('month', a.month) - date_part('month', c.cohort) AS BIGINT) AS months_since,
        COUNT(DISTINCT c.customer_id) AS active_customers
    FROM cohort AS c
    JOIN active AS a ON a.customer_id = c.customer_id AND a.month >= c.cohort
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

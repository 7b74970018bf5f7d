-- The headline's figures for each of the twelve periods up to the period's end, for the sparklines
-- beside them: period 12 is this one (the headline's figures), 11 the one before (its "previous"),
-- and so on. A period is the job's length ($period_end − $period_start) counted back from the
-- period's start: exact for days and weeks; a month is taken as the current one's length.
-- New customers count by signup date, like the headline's. ARR and paying customers are as of each
-- period's end, like `customer_facts`: 12 × the MRR billed for the month holding the period's last
-- day, over the customers who had signed up by then.
-- pareto: optional subscriptions
-- pareto: format period=count revenue=money orders=count aov=money new_customers=count arr=money paying_customers=count
WITH len AS (
    SELECT
        date_part('epoch', $period_start)                                           AS start_s,
        date_part('epoch', $period_end) - date_part('epoch', $period_start)         AS secs,
        CAST(CAST($period_start_date AS DATE) AS INT)                                AS start_day,
        CAST(CAST($period_end_date AS DATE) AS INT) - CAST(CAST($period_start_date AS DATE) AS INT) AS days
),
o AS (
    SELECT
        12 + CAST(FLOOR((date_part('epoch', ordered_at) - l.start_s) / l.secs) AS BIGINT) AS period,
        SUM(amount)                                                                   AS revenue,
        COUNT(*)                                                                      AS orders
    FROM orders
    CROSS JOIN len AS l
    WHERE ordered_at < $period_end
      AND date_part('epoch', ordered_at) >= l.start_s - 11 * l.secs
      -- the same bound (a second looser) as a time: the scan skips the row groups and pages
      -- before the first period instead of reading every order into the join above
      AND ordered_at >= to_timestamp(date_part('epoch', $period_start)
                                     - 11 * (date_part('epoch', $period_end) - date_part('epoch', $period_start)) - 1)
    GROUP BY 1
),
c AS (
    SELECT
        12 + CAST(FLOOR(CAST(CAST(CAST(signup_date AS DATE) AS INT) - l.start_day AS DOUBLE) / l.days) AS BIGINT) AS period,
        COUNT(*)                                                                      AS new_customers
    FROM customers
    CROSS JOIN len AS l
    WHERE signup_date < $period_end_date
      AND CAST(CAST(signup_date AS DATE) AS INT) >= l.start_day - 11 * l.days
    GROUP BY 1
),
-- each period's last day + 1, and the month holding its last day
ends AS (
    SELECT
        p.value                                                                       AS period,
        CAST(l.start_day + (p.value - 11) * l.days AS INT)                            AS end_day,
        CAST(date_trunc('month', CAST(CAST(l.start_day + (p.value - 11) * l.days - 1 AS INT) AS DATE)) AS DATE) AS month
    FROM generate_series(1, 12) AS p
    CROSS JOIN len AS l
),
-- each customer's MRR in those months (summed first, as customer_facts does)
billed AS (
    SELECT month, customer_id, SUM(mrr) AS mrr
    FROM subscriptions
    WHERE month >= (SELECT MIN(month) FROM ends) AND month <= (SELECT MAX(month) FROM ends)
    GROUP BY month, customer_id
),
-- summed by signup day; every signup before the month is one bucket (the month's first day),
-- since each of the month's periods ends after it
b AS (
    SELECT
        s.month,
        GREATEST(CAST(CAST(cu.signup_date AS DATE) AS INT), CAST(s.month AS INT)) AS signup_day,
        SUM(s.mrr)                                                                  AS mrr,
        COUNT(CASE WHEN s.mrr > 0 THEN 1 END)                                       AS paying
    FROM billed AS s
    JOIN customers AS cu ON cu.customer_id = s.customer_id
    GROUP BY 1, 2
),
a AS (
    SELECT e.period, 12 * SUM(b.mrr) AS arr, SUM(b.paying) AS paying_customers
    FROM ends AS e
    JOIN b ON b.month = e.month AND b.signup_day < e.end_day
    GROUP BY e.period
)
SELECT
    p.value                                          AS period,
    COALESCE(o.revenue, 0)                           AS revenue,
    COALESCE(o.orders, 0)                            AS orders,
    CAST(o.revenue AS DOUBLE) / NULLIF(o.orders, 0)  AS aov,
    COALESCE(c.new_customers, 0)                     AS new_customers,
    COALESCE(a.arr, 0)                               AS arr,
    COALESCE(a.paying_customers, 0)                  AS paying_customers
FROM generate_series(1, 12) AS p
LEFT JOIN o ON o.period = p.value
LEFT JOIN c ON c.period = p.value
LEFT JOIN a ON a.period = p.value
ORDER BY p.value

-- The headline's order figures for each of the twelve periods up to the period's end, for the
-- sparklines beside them: period 12 is this one (the headline's figures), 11 the one before (its
-- "previous"), and so on. A period is the job's length ($period_end − $period_start) counted back
-- from the period's end: exact for days and weeks; a month is taken as the current one's days.
-- New customers count by signup date, like the headline's.
-- pareto: format period=count revenue=money orders=count aov=money new_customers=count
WITH o AS (
    SELECT
        12 - (CAST($period_end AS BIGINT) - 1 - CAST(ordered_at AS BIGINT))
             / (CAST($period_end AS BIGINT) - CAST($period_start AS BIGINT))      AS period,
        SUM(amount)                                                               AS revenue,
        COUNT(*)                                                                  AS orders
    FROM orders
    WHERE ordered_at < $period_end
      AND CAST(ordered_at AS BIGINT) >= CAST($period_end AS BIGINT)
                                         - 12 * (CAST($period_end AS BIGINT) - CAST($period_start AS BIGINT))
    GROUP BY 1
),
c AS (
    SELECT
        12 - (CAST($period_end_date AS INT) - CAST(signup_date AS INT) - 1)
             / (CAST($period_end_date AS INT) - CAST($period_start_date AS INT))         AS period,
        COUNT(*)                                                                           AS new_customers
    FROM customers
    WHERE signup_date < $period_end_date
      AND CAST($period_end_date AS INT) - CAST(signup_date AS INT)
          <= 12 * (CAST($period_end_date AS INT) - CAST($period_start_date AS INT))
    GROUP BY 1
)
SELECT
    p.value                                          AS period,
    COALESCE(o.revenue, 0)                           AS revenue,
    COALESCE(o.orders, 0)                            AS orders,
    CAST(o.revenue AS DOUBLE) / NULLIF(o.orders, 0)  AS aov,
    COALESCE(c.new_customers, 0)                     AS new_customers
FROM generate_series(1, 12) AS p
LEFT JOIN o ON o.period = p.value
LEFT JOIN c ON c.period = p.value
ORDER BY p.value

-- Monthly recurring revenue, how it moved, for each of the last twelve months up to the month that
-- holds the period's last day, per company size and for All. For a customer and a month, with
-- prev = MRR billed the month before and cur = MRR billed that month:
--   new           prev = 0, cur > 0, first month ever billed          → cur
--   reactivation  prev = 0, cur > 0, billed in some earlier month     → cur
--   expansion     prev > 0, cur > prev                                → cur − prev
--   contraction   prev > 0, 0 < cur < prev                            → prev − cur
--   churned       prev > 0, cur = 0                                   → prev
-- so that start + new + reactivation + expansion − contraction − churned = end, exactly.
-- won_mrr = new + reactivation (MRR from customers not billed the month before), for tables too
-- narrow for both.
-- logo_churn_rate = churned customers / customers billed the month before;
-- grr = (start − contraction − churned) / start; nrr = (start + expansion − contraction − churned) / start;
-- nrr_12m, grr_12m: customers billed twelve months before; their MRR now (nrr, capped at their
-- old MRR for grr) over their MRR then.
-- A null MRR counts as 0.
--
-- How: one pass over subscriptions gives each customer's MRR in each of the 24 months to the last
-- one (pivot_sum: m[1] = that month, m[2] the month before, …; null when not billed) and the
-- first month ever billed; each of the twelve months shown then reads its own, the month before
-- and the month a year before from that row. No join between months and no window over the whole table: this
-- stays fast at millions of rows.
WITH s AS (
    SELECT
        customer_id,
        month,
        COALESCE(mrr, 0) AS mrr,
        -- months before the month holding the period's last day (0 = that month)
        CAST(date_part('year', CAST(date_trunc('month', $period_end_date - INTERVAL '1 day') AS DATE)) * 12
             + date_part('month', CAST(date_trunc('month', $period_end_date - INTERVAL '1 day') AS DATE))
             - date_part('year', month) * 12 - date_part('month', month) AS BIGINT) AS ago
    FROM subscriptions
),
per AS (
    SELECT
        customer_id,
        MIN(month) AS first_month,
        -- m[1] = that month's MRR, m[2] the month before's, … m[24] 23 months before's
        pivot_sum(mrr, ago, 24) AS m
    FROM s
    WHERE ago >= 0
    GROUP BY customer_id
),
-- with each customer's company size (as of the period's end)
per_size AS (
    SELECT p.*, COALESCE(f.company_size, 'Unknown') AS company_size
    FROM per AS p
    LEFT JOIN customer_segments AS f ON f.customer_id = p.customer_id
),
-- The months shown: those of the last twelve in which anyone was billed. Bounds on the month
-- itself, not on `ago`, let the scan skip the row groups of older months by their statistics.
months AS (
    SELECT DISTINCT month
    FROM subscriptions
    WHERE month >= CAST(date_trunc('month', $period_end_date - INTERVAL '1 day') - INTERVAL '11 months' AS DATE)
      AND month < CAST(date_trunc('month', $period_end_date - INTERVAL '1 day') + INTERVAL '1 month' AS DATE)
),
-- each customer twelve times: each month shown, with its MRR, the month before's and a year
-- before's (the lists unnest side by side: the n-th of each together)
billed AS (
    SELECT
        company_size,
        first_month,
        unnest(make_array(
            CAST(date_trunc('month', $period_end_date - INTERVAL '1 day') AS DATE),
            CAST(date_trunc('month', $period_end_date - INTERVAL '1 day') - INTERVAL '1 month' AS DATE),
            CAST(date_trunc('month', $period_end_date - INTERVAL '1 day') - INTERVAL '2 months' AS DATE),
            CAST(date_trunc('month', $period_end_date - INTERVAL '1 day') - INTERVAL '3 months' AS DATE),
            CAST(date_trunc('month', $period_end_date - INTERVAL '1 day') - INTERVAL '4 months' AS DATE),
            CAST(date_trunc('month', $period_end_date - INTERVAL '1 day') - INTERVAL '5 months' AS DATE),
            CAST(date_trunc('month', $period_end_date - INTERVAL '1 day') - INTERVAL '6 months' AS DATE),
            CAST(date_trunc('month', $period_end_date - INTERVAL '1 day') - INTERVAL '7 months' AS DATE),
            CAST(date_trunc('month', $period_end_date - INTERVAL '1 day') - INTERVAL '8 months' AS DATE),
            CAST(date_trunc('month', $period_end_date - INTERVAL '1 day') - INTERVAL '9 months' AS DATE),
            CAST(date_trunc('month', $period_end_date - INTERVAL '1 day') - INTERVAL '10 months' AS DATE),
            CAST(date_trunc('month', $period_end_date - INTERVAL '1 day') - INTERVAL '11 months' AS DATE)
        ))                                                                              AS month,
        unnest(array_slice(m, 2, 13))                                                   AS prev_mrr,
        unnest(array_slice(m, 1, 12))                                                   AS cur_mrr,
        unnest(array_slice(m, 13, 24))                                                  AS year_before_mrr
    FROM per_size
),
moves AS (
    SELECT
        month,
        company_size,
        first_month,
        COALESCE(prev_mrr, 0)          AS prev,
        COALESCE(cur_mrr, 0)           AS cur,
        year_before_mrr                AS year_before,
        -- billed this month or the month before: the customer is in this month's movements
        cur_mrr IS NOT NULL OR prev_mrr IS NOT NULL AS moving
    FROM billed
    -- a month where the customer was not billed, nor the month before or a year before, adds nothing
    WHERE cur_mrr IS NOT NULL OR prev_mrr IS NOT NULL OR year_before_mrr IS NOT NULL
),
agg AS (
    SELECT
        m.month,
        CASE WHEN GROUPING(m.company_size) = 1 THEN 'All' ELSE m.company_size END          AS segment,
        SUM(m.prev)                                                                       AS start_mrr,
        SUM(CASE WHEN m.prev = 0 AND m.cur > 0 AND m.month = m.first_month THEN m.cur ELSE 0 END) AS new_mrr,
        SUM(CASE WHEN m.prev = 0 AND m.cur > 0 AND m.month > m.first_month THEN m.cur ELSE 0 END) AS reactivation_mrr,
        SUM(CASE WHEN m.prev > 0 AND m.cur > m.prev THEN m.cur - m.prev ELSE 0 END)          AS expansion_mrr,
        SUM(CASE WHEN m.prev > 0 AND m.cur > 0 AND m.cur < m.prev THEN m.prev - m.cur ELSE 0 END) AS contraction_mrr,
        SUM(CASE WHEN m.prev > 0 AND m.cur = 0 THEN m.prev ELSE 0 END)                     AS churned_mrr,
        SUM(m.cur)                                                                        AS end_mrr,
        COUNT(CASE WHEN m.prev > 0 THEN 1 END)                                            AS start_customers,
        COUNT(CASE WHEN m.prev > 0 AND m.cur = 0 THEN 1 END)                              AS churned_customers,
        SUM(m.year_before)                                                                AS then_mrr,
        SUM(CASE WHEN m.year_before IS NOT NULL THEN m.cur END)                           AS now_mrr,
        SUM(CASE WHEN m.year_before IS NOT NULL THEN LEAST(m.cur, m.year_before) END)     AS kept_mrr
    FROM moves AS m
    GROUP BY GROUPING SETS ((m.month, m.company_size), (m.month))
    HAVING COUNT(CASE WHEN m.moving THEN 1 END) > 0
)
SELECT
    month,
    segment,
    start_mrr,
    new_mrr,
    reactivation_mrr,
    new_mrr + reactivation_mrr                                                                       AS won_mrr,
    expansion_mrr,
    contraction_mrr,
    churned_mrr,
    end_mrr,
    start_customers,
    churned_customers,
    CAST(churned_customers AS DOUBLE) / NULLIF(start_customers, 0)                                   AS logo_churn_rate,
    CAST(start_mrr - contraction_mrr - churned_mrr AS DOUBLE) / NULLIF(CAST(start_mrr AS DOUBLE), 0) AS grr,
    CAST(start_mrr + expansion_mrr - contraction_mrr - churned_mrr AS DOUBLE) / NULLIF(CAST(start_mrr AS DOUBLE), 0) AS nrr,
    CAST(now_mrr AS DOUBLE) / NULLIF(CAST(then_mrr AS DOUBLE), 0)                                    AS nrr_12m,
    CAST(kept_mrr AS DOUBLE) / NULLIF(CAST(then_mrr AS DOUBLE), 0)                                   AS grr_12m
FROM agg
WHERE month IN (SELECT month FROM months)
ORDER BY CASE segment WHEN 'All' THEN 0 ELSE 1 END, segment, month

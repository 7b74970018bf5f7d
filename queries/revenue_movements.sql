-- Monthly recurring revenue, how it moved, for each of the last twelve months up to the month that
-- holds the period's last day, per company size and for All. For a customer and a month, with
-- prev = MRR billed the month before and cur = MRR billed that month:
--   new           prev = 0, cur > 0, first month ever billed          → cur
--   reactivation  prev = 0, cur > 0, billed in some earlier month     → cur
--   expansion     prev > 0, cur > prev                                → cur − prev
--   contraction   prev > 0, 0 < cur < prev                            → prev − cur
--   churned       prev > 0, cur = 0                                   → prev
-- so that start + new + reactivation + expansion − contraction − churned = end, exactly.
-- logo_churn_rate = churned customers / customers billed the month before;
-- grr = (start − contraction − churned) / start; nrr = (start + expansion − contraction − churned) / start;
-- nrr_12m, grr_12m: customers billed twelve months before; their MRR now (nrr, capped at their
-- old MRR for grr) over their MRR then.
WITH s AS (
    SELECT customer_id, month, SUM(mrr) AS mrr
    FROM subscriptions
    GROUP BY customer_id, month
),
bounds AS (
    SELECT CAST(date_trunc('month', $period_end_date - INTERVAL '1 day') AS DATE) AS last_month
),
months AS (
    SELECT DISTINCT s.month
    FROM s CROSS JOIN bounds AS b
    WHERE s.month <= b.last_month AND s.month > CAST(b.last_month - INTERVAL '12 months' AS DATE)
),
firsts AS (
    SELECT customer_id, MIN(month) AS first_month FROM s GROUP BY customer_id
),
keys AS (
    SELECT customer_id, month FROM s WHERE month IN (SELECT month FROM months)
    UNION
    SELECT customer_id, CAST(month + INTERVAL '1 month' AS DATE) AS month FROM s
    WHERE CAST(month + INTERVAL '1 month' AS DATE) IN (SELECT month FROM months)
),
moves AS (
    SELECT
        k.customer_id,
        k.month,
        COALESCE(p.mrr, 0) AS prev,
        COALESCE(c.mrr, 0) AS cur,
        fm.first_month
    FROM keys AS k
    JOIN firsts AS fm ON fm.customer_id = k.customer_id
    LEFT JOIN s AS c ON c.customer_id = k.customer_id AND c.month = k.month
    LEFT JOIN s AS p ON p.customer_id = k.customer_id AND p.month = CAST(k.month - INTERVAL '1 month' AS DATE)
),
tagged AS (
    SELECT m.*, COALESCE(f.company_size, 'Unknown') AS segment FROM moves AS m LEFT JOIN customer_facts AS f ON f.customer_id = m.customer_id
    UNION ALL
    SELECT m.*, 'All' AS segment FROM moves AS m
),
agg AS (
    SELECT
        month,
        segment,
        SUM(prev)                                                                   AS start_mrr,
        SUM(CASE WHEN prev = 0 AND cur > 0 AND month = first_month THEN cur ELSE 0 END) AS new_mrr,
        SUM(CASE WHEN prev = 0 AND cur > 0 AND month > first_month THEN cur ELSE 0 END) AS reactivation_mrr,
        SUM(CASE WHEN prev > 0 AND cur > prev THEN cur - prev ELSE 0 END)           AS expansion_mrr,
        SUM(CASE WHEN prev > 0 AND cur > 0 AND cur < prev THEN prev - cur ELSE 0 END) AS contraction_mrr,
        SUM(CASE WHEN prev > 0 AND cur = 0 THEN prev ELSE 0 END)                    AS churned_mrr,
        SUM(cur)                                                                    AS end_mrr,
        COUNT(CASE WHEN prev > 0 THEN 1 END)                                        AS start_customers,
        COUNT(CASE WHEN prev > 0 AND cur = 0 THEN 1 END)                            AS churned_customers
    FROM tagged
    GROUP BY month, segment
),
year_ago AS (
    SELECT
        mo.month,
        COALESCE(f.company_size, 'Unknown') AS segment,
        y.mrr                               AS then_mrr,
        COALESCE(c.mrr, 0)                  AS now_mrr
    FROM months AS mo
    JOIN s AS y ON y.month = CAST(mo.month - INTERVAL '12 months' AS DATE)
    LEFT JOIN s AS c ON c.customer_id = y.customer_id AND c.month = mo.month
    LEFT JOIN customer_facts AS f ON f.customer_id = y.customer_id
),
ttm AS (
    SELECT month, segment, SUM(then_mrr) AS then_mrr, SUM(now_mrr) AS now_mrr, SUM(LEAST(now_mrr, then_mrr)) AS kept_mrr
    FROM (SELECT * FROM year_ago UNION ALL SELECT month, 'All' AS segment, then_mrr, now_mrr FROM year_ago)
    GROUP BY month, segment
)
SELECT
    a.month,
    a.segment,
    a.start_mrr,
    a.new_mrr,
    a.reactivation_mrr,
    a.expansion_mrr,
    a.contraction_mrr,
    a.churned_mrr,
    a.end_mrr,
    a.start_customers,
    a.churned_customers,
    CAST(a.churned_customers AS DOUBLE) / NULLIF(a.start_customers, 0)                                   AS logo_churn_rate,
    CAST(a.start_mrr - a.contraction_mrr - a.churned_mrr AS DOUBLE) / NULLIF(CAST(a.start_mrr AS DOUBLE), 0) AS grr,
    CAST(a.start_mrr + a.expansion_mrr - a.contraction_mrr - a.churned_mrr AS DOUBLE) / NULLIF(CAST(a.start_mrr AS DOUBLE), 0) AS nrr,
    CAST(t.now_mrr AS DOUBLE) / NULLIF(CAST(t.then_mrr AS DOUBLE), 0)                                    AS nrr_12m,
    CAST(t.kept_mrr AS DOUBLE) / NULLIF(CAST(t.then_mrr AS DOUBLE), 0)                                   AS grr_12m
FROM agg AS a
LEFT JOIN ttm AS t ON t.month = a.month AND t.segment = a.segment
ORDER BY CASE a.segment WHEN 'All' THEN 0 ELSE 1 END, a.segment, a.month

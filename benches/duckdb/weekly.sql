-- The weekly report's headline figures in DuckDB, written as a data engineer would for a one-off
-- script: the same definitions as queries/*.sql, formulated independently. The bench
-- (benches/weekly.py) sets the variables below, runs this file, and compares what it returns
-- with pareto's archived results.
--
--   lake            the lake folder
--   period_start, period_end, prev_period_start        TIMESTAMPTZ (UTC)
--   period_start_date, period_end_date, prev_period_start_date   DATE (local)
--   period_months   DOUBLE
--   size_smb, size_mid, size_enterprise   company size thresholds
--
-- Output tables: bench_headline, bench_pareto, bench_segment_value, bench_revenue_movements,
-- bench_support_kpis.

CREATE OR REPLACE TEMP VIEW customers AS SELECT * FROM read_parquet(getvariable('lake') || '/customers/**/*.parquet');
CREATE OR REPLACE TEMP VIEW orders AS SELECT * FROM read_parquet(getvariable('lake') || '/orders/**/*.parquet');
CREATE OR REPLACE TEMP VIEW subscriptions AS SELECT * FROM read_parquet(getvariable('lake') || '/subscriptions/**/*.parquet');
CREATE OR REPLACE TEMP VIEW tickets AS SELECT * FROM read_parquet(getvariable('lake') || '/tickets/**/*.parquet');
CREATE OR REPLACE TEMP VIEW csat AS SELECT * FROM read_parquet(getvariable('lake') || '/csat/**/*.parquet');
CREATE OR REPLACE TEMP VIEW nps AS SELECT * FROM read_parquet(getvariable('lake') || '/nps/**/*.parquet');

-- Customer facts as of the period's end: one pass over orders, one over the month's MRR.
CREATE OR REPLACE TEMP TABLE facts AS
WITH o AS (
    SELECT
        customer_id,
        SUM(amount) AS lifetime_revenue,
        SUM(amount) FILTER (WHERE ordered_at >= getvariable('period_start')) AS period_revenue,
        COUNT(*) FILTER (WHERE ordered_at >= getvariable('period_start')) AS period_orders,
        SUM(amount) FILTER (WHERE ordered_at >= getvariable('prev_period_start') AND ordered_at < getvariable('period_start')) AS prev_period_revenue
    FROM orders
    WHERE ordered_at < getvariable('period_end')
    GROUP BY customer_id
),
s AS (
    SELECT customer_id, SUM(mrr) AS mrr
    FROM subscriptions
    WHERE month = date_trunc('month', getvariable('period_end_date') - INTERVAL 1 DAY)::DATE
    GROUP BY customer_id
)
SELECT
    c.customer_id,
    CASE
        WHEN c.employees IS NULL THEN 'Unknown'
        WHEN c.employees < getvariable('size_smb') THEN 'Solo'
        WHEN c.employees < getvariable('size_mid') THEN 'SMB'
        WHEN c.employees < getvariable('size_enterprise') THEN 'Mid-market'
        ELSE 'Enterprise'
    END AS company_size,
    CASE
        WHEN getvariable('period_end_date') - c.signup_date < 14 THEN 'Trial'
        WHEN getvariable('period_end_date') - c.signup_date < 90 THEN 'First90'
        WHEN getvariable('period_end_date') - c.signup_date < 365 THEN 'FirstYear'
        ELSE 'Veteran'
    END AS tenure,
    c.region,
    c.industry,
    COALESCE(o.lifetime_revenue, 0) AS lifetime_revenue,
    COALESCE(o.period_revenue, 0) AS period_revenue,
    COALESCE(o.period_orders, 0) AS period_orders,
    COALESCE(o.prev_period_revenue, 0) AS prev_period_revenue,
    12 * COALESCE(s.mrr, 0) AS arr
FROM customers AS c
LEFT JOIN o USING (customer_id)
LEFT JOIN s USING (customer_id)
WHERE c.signup_date < getvariable('period_end_date');

CREATE OR REPLACE TEMP TABLE bench_headline AS
SELECT
    (SELECT SUM(amount) FROM orders WHERE ordered_at >= getvariable('period_start') AND ordered_at < getvariable('period_end')) AS revenue,
    (SELECT COUNT(*) FROM orders WHERE ordered_at >= getvariable('period_start') AND ordered_at < getvariable('period_end')) AS orders,
    (SELECT COUNT(DISTINCT customer_id) FROM orders WHERE ordered_at >= getvariable('period_start') AND ordered_at < getvariable('period_end')) AS active_customers,
    (SELECT COUNT(*) FROM customers WHERE signup_date >= getvariable('period_start_date') AND signup_date < getvariable('period_end_date')) AS new_customers,
    (SELECT SUM(arr) FROM facts) AS arr,
    (SELECT COUNT(*) FROM facts WHERE arr > 0) AS paying_customers;

-- Concentration over lifetime and period revenue, customers with revenue above zero.
CREATE OR REPLACE TEMP TABLE bench_pareto AS
WITH x AS (
    SELECT 'lifetime' AS basis, customer_id, lifetime_revenue AS revenue FROM facts WHERE lifetime_revenue > 0
    UNION ALL
    SELECT 'period', customer_id, period_revenue FROM facts WHERE period_revenue > 0
),
r AS (
    SELECT
        basis, revenue,
        ROW_NUMBER() OVER (PARTITION BY basis ORDER BY revenue DESC, customer_id) AS desc_rank,
        SUM(revenue) OVER (PARTITION BY basis ORDER BY revenue DESC, customer_id ROWS UNBOUNDED PRECEDING) AS cum_desc,
        ROW_NUMBER() OVER (PARTITION BY basis ORDER BY revenue ASC, customer_id DESC) AS asc_rank,
        COUNT(*) OVER (PARTITION BY basis) AS n,
        SUM(revenue) OVER (PARTITION BY basis) AS total
    FROM x
)
SELECT
    basis,
    MAX(n) AS customers,
    MAX(total) AS revenue,
    SUM(revenue) FILTER (WHERE desc_rank <= (n + 4) // 5)::DOUBLE / MAX(total)::DOUBLE AS top20_share,
    MIN(desc_rank) FILTER (WHERE cum_desc * 5 >= total * 4) AS customers_to_80,
    2.0 * SUM(asc_rank * revenue::DOUBLE) / (MAX(n) * MAX(total)::DOUBLE) - (MAX(n) + 1.0) / MAX(n) AS gini
FROM r
GROUP BY basis
ORDER BY basis;

CREATE OR REPLACE TEMP TABLE bench_segment_value AS
SELECT
    dimension, segment,
    COUNT(*) AS customers,
    SUM(period_revenue) AS revenue,
    AVG(lifetime_revenue::DOUBLE) AS ltv,
    SUM(arr) AS arr,
    SUM(prev_period_revenue) AS prev_revenue
FROM (
    UNPIVOT (SELECT company_size, tenure, region, industry, lifetime_revenue, period_revenue, prev_period_revenue, arr FROM facts)
    ON company_size, tenure, region, industry INTO NAME dimension VALUE segment
)
GROUP BY dimension, segment
ORDER BY dimension, segment;

-- MRR movements for the twelve months to the month holding the period's last day: each customer's
-- MRR in a month and the month before, by joins on the months that matter (LAG over a dense grid
-- measured slower in DuckDB).
CREATE OR REPLACE TEMP TABLE bench_revenue_movements AS
WITH last AS (SELECT date_trunc('month', getvariable('period_end_date') - INTERVAL 1 DAY)::DATE AS m),
firsts AS (SELECT customer_id, MIN(month) AS first_month FROM subscriptions GROUP BY ALL),
s AS MATERIALIZED (
    SELECT customer_id, month, SUM(mrr) AS mrr
    FROM subscriptions, last
    WHERE month > (m - INTERVAL 24 MONTH)::DATE AND month <= m
    GROUP BY ALL
),
months AS (SELECT (m - INTERVAL (k) MONTH)::DATE AS month FROM last, range(13) AS t(k)),
keys AS (   -- (customer, month) billed in a month shown or the month before it
    SELECT DISTINCT customer_id, month FROM (
        SELECT customer_id, month FROM s
        UNION ALL SELECT customer_id, (month + INTERVAL 1 MONTH)::DATE FROM s
    ), last
    WHERE month > (m - INTERVAL 12 MONTH)::DATE AND month <= m
),
moves AS (
    SELECT k.month, COALESCE(c.mrr, 0) AS cur, COALESCE(p.mrr, 0) AS prev, fm.first_month,
           COALESCE(f.company_size, 'Unknown') AS size
    FROM keys AS k
    JOIN firsts AS fm USING (customer_id)
    LEFT JOIN s AS c ON c.customer_id = k.customer_id AND c.month = k.month
    LEFT JOIN s AS p ON p.customer_id = k.customer_id AND p.month = (k.month - INTERVAL 1 MONTH)::DATE
    LEFT JOIN facts AS f ON f.customer_id = k.customer_id
),
agg AS (
    SELECT month, CASE WHEN GROUPING(size) = 1 THEN 'All' ELSE size END AS segment,
        SUM(prev) AS start_mrr,
        SUM(cur) FILTER (WHERE prev = 0 AND cur > 0 AND month = first_month) AS new_mrr,
        SUM(cur) FILTER (WHERE prev = 0 AND cur > 0 AND month > first_month) AS reactivation_mrr,
        SUM(cur - prev) FILTER (WHERE prev > 0 AND cur > prev) AS expansion_mrr,
        SUM(prev - cur) FILTER (WHERE prev > 0 AND cur > 0 AND cur < prev) AS contraction_mrr,
        SUM(prev) FILTER (WHERE prev > 0 AND cur = 0) AS churned_mrr,
        SUM(cur) AS end_mrr
    FROM moves
    GROUP BY GROUPING SETS ((month, size), (month))
),
year_ago AS (
    SELECT (y.month + INTERVAL 12 MONTH)::DATE AS month,
        CASE WHEN GROUPING(f.company_size) = 1 THEN 'All' ELSE COALESCE(f.company_size, 'Unknown') END AS segment,
        SUM(y.mrr)::DOUBLE AS then_mrr, SUM(COALESCE(c.mrr, 0))::DOUBLE AS now_mrr
    FROM s AS y
    CROSS JOIN last
    LEFT JOIN s AS c ON c.customer_id = y.customer_id AND c.month = (y.month + INTERVAL 12 MONTH)::DATE
    LEFT JOIN facts AS f ON f.customer_id = y.customer_id
    WHERE y.month <= (last.m - INTERVAL 12 MONTH)::DATE
    GROUP BY GROUPING SETS (((y.month + INTERVAL 12 MONTH)::DATE, f.company_size), ((y.month + INTERVAL 12 MONTH)::DATE))
)
SELECT
    a.month, a.segment, a.start_mrr,
    COALESCE(a.new_mrr, 0) AS new_mrr, COALESCE(a.reactivation_mrr, 0) AS reactivation_mrr,
    COALESCE(a.expansion_mrr, 0) AS expansion_mrr, COALESCE(a.contraction_mrr, 0) AS contraction_mrr,
    COALESCE(a.churned_mrr, 0) AS churned_mrr, a.end_mrr,
    (a.start_mrr + COALESCE(a.expansion_mrr, 0) - COALESCE(a.contraction_mrr, 0) - COALESCE(a.churned_mrr, 0))::DOUBLE
        / NULLIF(a.start_mrr::DOUBLE, 0) AS nrr,
    y.now_mrr / NULLIF(y.then_mrr, 0) AS nrr_12m
FROM agg AS a
LEFT JOIN year_ago AS y USING (month, segment)
ORDER BY a.segment, a.month;

-- Support KPIs per segment (the customer's segment at the period's end; Unknown when the
-- customer is not in customers), with exact interpolated percentiles.
CREATE OR REPLACE TEMP TABLE bench_support_kpis AS
WITH seg AS (SELECT customer_id, company_size, tenure, region, industry FROM facts),
t AS (
    SELECT
        tk.channel,
        COALESCE(s.company_size, 'Unknown') AS company_size, COALESCE(s.tenure, 'Unknown') AS tenure,
        COALESCE(s.region, 'Unknown') AS region, COALESCE(s.industry, 'Unknown') AS industry,
        tk.created_at >= getvariable('period_start') AS created_now,
        tk.first_reply_at,
        epoch(tk.first_reply_at - tk.created_at) / 3600.0 AS reply_h,
        CASE WHEN tk.solved_at >= getvariable('period_start') AND tk.solved_at < getvariable('period_end') AND tk.solved_at >= tk.created_at
             THEN epoch(tk.solved_at - tk.created_at) / 3600.0 END AS resolution_h
    FROM tickets AS tk
    LEFT JOIN seg AS s USING (customer_id)
    WHERE tk.created_at < getvariable('period_end')
      AND (tk.created_at >= getvariable('period_start') OR (tk.solved_at >= getvariable('period_start') AND tk.solved_at < getvariable('period_end')))
),
tk AS (
    SELECT dimension, segment,
        COUNT(*) FILTER (WHERE created_now) AS tickets,
        quantile_cont(reply_h, 0.5) FILTER (WHERE created_now) AS first_reply_median_h,
        quantile_cont(reply_h, 0.9) FILTER (WHERE created_now) AS first_reply_p90_h,
        quantile_cont(resolution_h, 0.5) AS resolution_median_h,
        quantile_cont(resolution_h, 0.9) AS resolution_p90_h
    FROM (
        UNPIVOT (SELECT 'All' AS "All", channel, company_size, tenure, region, industry, created_now, reply_h, resolution_h FROM t)
        ON "All", channel, company_size, tenure, region, industry INTO NAME dimension VALUE segment
    )
    GROUP BY dimension, segment
),
r AS (
    SELECT
        c.score,
        COALESCE(s.company_size, 'Unknown') AS company_size, COALESCE(s.tenure, 'Unknown') AS tenure,
        COALESCE(s.region, 'Unknown') AS region, COALESCE(s.industry, 'Unknown') AS industry,
        COALESCE(x.channel, 'Unknown') AS channel
    FROM csat AS c
    LEFT JOIN seg AS s USING (customer_id)
    LEFT JOIN tickets AS x ON x.ticket_id = c.ticket_id
    WHERE c.rated_at >= getvariable('period_start') AND c.rated_at < getvariable('period_end')
),
cs AS (
    SELECT dimension, segment, COUNT(*) AS csat_responses, AVG(CASE WHEN score >= 4 THEN 1.0 ELSE 0.0 END) AS csat
    FROM (
        UNPIVOT (SELECT 'All' AS "All", channel, company_size, tenure, region, industry, score FROM r)
        ON "All", channel, company_size, tenure, region, industry INTO NAME dimension VALUE segment
    )
    GROUP BY dimension, segment
),
n AS (
    SELECT
        x.score,
        COALESCE(s.company_size, 'Unknown') AS company_size, COALESCE(s.tenure, 'Unknown') AS tenure,
        COALESCE(s.region, 'Unknown') AS region, COALESCE(s.industry, 'Unknown') AS industry
    FROM nps AS x
    LEFT JOIN seg AS s USING (customer_id)
    WHERE x.responded_at >= getvariable('period_start') AND x.responded_at < getvariable('period_end')
),
np AS (
    SELECT dimension, segment,
        100.0 * AVG(CASE WHEN score >= 9 THEN 1.0 WHEN score <= 6 THEN -1.0 ELSE 0.0 END) AS nps
    FROM (
        UNPIVOT (SELECT 'All' AS "All", company_size, tenure, region, industry, score FROM n)
        ON "All", company_size, tenure, region, industry INTO NAME dimension VALUE segment
    )
    GROUP BY dimension, segment
)
SELECT
    dimension, segment,
    COALESCE(tk.tickets, 0) AS tickets, tk.first_reply_median_h, tk.first_reply_p90_h, tk.resolution_median_h, tk.resolution_p90_h,
    COALESCE(cs.csat_responses, 0) AS csat_responses, cs.csat, np.nps
FROM tk
FULL JOIN cs USING (dimension, segment)
FULL JOIN np USING (dimension, segment)
ORDER BY dimension, segment;

-- How well each segment is served, this period and the previous one, in long format:
-- one row per (dimension, segment) over value tier, company size, tenure, region, industry and the
-- ticket's channel, plus an All row. A ticket, rating or response belongs to its customer's segment
-- as of the period's end; one from a customer the lake does not know is in `Unknown`.
--   tickets                       created in the period
--   requests_per_customer_month   tickets ÷ customers in the segment ÷ months in the period
--                                 (for channels: ÷ all customers)
--   first_reply_median_h, _p90_h  first_reply_at − created_at, in hours, for tickets created in the
--                                 period that have a reply (exact, interpolated between neighbours)
--   unanswered                    tickets created in the period with no reply yet
--   resolution_median_h, _p90_h   solved_at − created_at, in hours, for tickets solved in the period
--                                 (a ticket solved before it was created is bad data, left out here)
--   touches                       mean agent_replies of tickets solved in the period
--   reopen_rate                   share of tickets solved in the period that were reopened
--   escalation_rate               share of tickets created in the period that were escalated
--   csat                          share of ratings 4 or 5 among ratings given in the period
--   csat_low_sample               fewer than $min_responses ratings: shown greyed, never alerts
--   nps                           % promoters (9–10) − % detractors (0–6) of responses in the period
--                                 (not per channel)
--   sentiment                     mean sentiment of tickets created in the period, where present
-- prev_* are the same for the previous period.
-- pareto: optional csat, nps
WITH seg AS (
    SELECT f.customer_id, f.company_size, f.tenure_band, f.region, f.industry, COALESCE(v.tier, 'Unscored') AS value_tier
    FROM customer_facts AS f
    LEFT JOIN value_tiers AS v ON v.customer_id = f.customer_id
),
dims AS (
    SELECT * FROM (VALUES ('All', 0), ('value_tier', 1), ('company_size', 2), ('tenure', 3), ('region', 4), ('industry', 5), ('channel', 6))
        AS d(dimension, position)
),
t AS (
    SELECT
        tk.*,
        COALESCE(s.company_size, 'Unknown') AS company_size,
        COALESCE(s.tenure_band, 'Unknown')  AS tenure_band,
        COALESCE(s.region, 'Unknown')       AS region,
        COALESCE(s.industry, 'Unknown')     AS industry,
        COALESCE(s.value_tier, 'Unknown')   AS value_tier,
        (date_part('epoch', tk.first_reply_at) - date_part('epoch', tk.created_at)) / 3600.0 AS reply_h,
        (date_part('epoch', tk.solved_at) - date_part('epoch', tk.created_at)) / 3600.0      AS resolution_h,
        tk.created_at >= $period_start AND tk.created_at < $period_end           AS created_now,
        tk.created_at >= $prev_period_start AND tk.created_at < $period_start    AS created_before,
        -- A ticket "solved" before it was created is bad data (see data_quality), not a resolution.
        tk.solved_at >= $period_start AND tk.solved_at < $period_end AND tk.solved_at >= tk.created_at          AS solved_now,
        tk.solved_at >= $prev_period_start AND tk.solved_at < $period_start AND tk.solved_at >= tk.created_at   AS solved_before
    FROM tickets AS tk
    LEFT JOIN seg AS s ON s.customer_id = tk.customer_id
    WHERE tk.created_at < $period_end
      AND (tk.created_at >= $prev_period_start OR tk.solved_at >= $prev_period_start)
),
ticket_cuts AS (
    SELECT
        d.dimension,
        CASE d.dimension
            WHEN 'All' THEN 'All' WHEN 'value_tier' THEN t.value_tier WHEN 'company_size' THEN t.company_size
            WHEN 'tenure' THEN t.tenure_band WHEN 'region' THEN t.region WHEN 'industry' THEN t.industry
            WHEN 'channel' THEN t.channel
        END AS segment,
        t.*
    FROM t CROSS JOIN dims AS d
),
ticket_kpis AS (
    SELECT
        dimension,
        segment,
        COUNT(CASE WHEN created_now THEN 1 END)                                                    AS tickets,
        COUNT(CASE WHEN created_before THEN 1 END)                                                 AS prev_tickets,
        COUNT(CASE WHEN created_now AND first_reply_at IS NULL THEN 1 END)                         AS unanswered,
        AVG(CASE WHEN solved_now THEN CAST(agent_replies AS DOUBLE) END)                           AS touches,
        AVG(CASE WHEN solved_now THEN CASE WHEN reopens > 0 THEN 1.0 ELSE 0.0 END END)             AS reopen_rate,
        AVG(CASE WHEN created_now THEN CASE WHEN escalated THEN 1.0 ELSE 0.0 END END)              AS escalation_rate,
        AVG(CASE WHEN created_now THEN sentiment END)                                              AS sentiment
    FROM ticket_cuts
    GROUP BY dimension, segment
),
-- Exact percentiles (DataFusion's percentile_cont rounds its interpolation weight to 6 decimals):
-- sort each (dimension, segment, measure)'s hours, then interpolate between the values at
-- positions ⌊p·(n−1)⌋ and ⌈p·(n−1)⌉.
times AS (
    SELECT dimension, segment, 'reply' AS measure, reply_h AS hours FROM ticket_cuts WHERE created_now AND reply_h IS NOT NULL
    UNION ALL SELECT dimension, segment, 'prev_reply', reply_h FROM ticket_cuts WHERE created_before AND reply_h IS NOT NULL
    UNION ALL SELECT dimension, segment, 'resolution', resolution_h FROM ticket_cuts WHERE solved_now
    UNION ALL SELECT dimension, segment, 'prev_resolution', resolution_h FROM ticket_cuts WHERE solved_before
),
ranked AS (
    SELECT
        *,
        ROW_NUMBER() OVER (PARTITION BY dimension, segment, measure ORDER BY hours) - 1 AS i,
        COUNT(*) OVER (PARTITION BY dimension, segment, measure)                       AS n
    FROM times
),
percentiles AS (
    SELECT dimension, segment, measure, q.p,
           MAX(CASE WHEN i = CAST(FLOOR(q.p * (n - 1)) AS BIGINT) THEN hours END)
           + (q.p * (n - 1) - FLOOR(q.p * (n - 1)))
             * (MAX(CASE WHEN i = CAST(CEIL(q.p * (n - 1)) AS BIGINT) THEN hours END)
                - MAX(CASE WHEN i = CAST(FLOOR(q.p * (n - 1)) AS BIGINT) THEN hours END)) AS hours
    FROM ranked CROSS JOIN (VALUES (0.5), (0.9)) AS q(p)
    GROUP BY dimension, segment, measure, q.p, n
),
time_kpis AS (
    SELECT
        dimension,
        segment,
        MAX(CASE WHEN measure = 'reply' AND p = 0.5 THEN hours END)           AS first_reply_median_h,
        MAX(CASE WHEN measure = 'reply' AND p = 0.9 THEN hours END)           AS first_reply_p90_h,
        MAX(CASE WHEN measure = 'prev_reply' AND p = 0.5 THEN hours END)      AS prev_first_reply_median_h,
        MAX(CASE WHEN measure = 'resolution' AND p = 0.5 THEN hours END)      AS resolution_median_h,
        MAX(CASE WHEN measure = 'resolution' AND p = 0.9 THEN hours END)      AS resolution_p90_h,
        MAX(CASE WHEN measure = 'prev_resolution' AND p = 0.5 THEN hours END) AS prev_resolution_median_h
    FROM percentiles
    GROUP BY dimension, segment
),
r AS (
    SELECT
        c.score,
        c.rated_at >= $period_start AND c.rated_at < $period_end        AS now,
        c.rated_at >= $prev_period_start AND c.rated_at < $period_start AS before,
        COALESCE(s.company_size, 'Unknown') AS company_size,
        COALESCE(s.tenure_band, 'Unknown')  AS tenure_band,
        COALESCE(s.region, 'Unknown')       AS region,
        COALESCE(s.industry, 'Unknown')     AS industry,
        COALESCE(s.value_tier, 'Unknown')   AS value_tier,
        COALESCE(tk.channel, 'Unknown')     AS channel
    FROM csat AS c
    LEFT JOIN seg AS s ON s.customer_id = c.customer_id
    LEFT JOIN tickets AS tk ON tk.ticket_id = c.ticket_id
    WHERE c.rated_at >= $prev_period_start AND c.rated_at < $period_end
),
csat_kpis AS (
    SELECT
        d.dimension,
        CASE d.dimension
            WHEN 'All' THEN 'All' WHEN 'value_tier' THEN r.value_tier WHEN 'company_size' THEN r.company_size
            WHEN 'tenure' THEN r.tenure_band WHEN 'region' THEN r.region WHEN 'industry' THEN r.industry
            WHEN 'channel' THEN r.channel
        END AS segment,
        COUNT(CASE WHEN r.now THEN 1 END)                                                  AS csat_responses,
        AVG(CASE WHEN r.now THEN CASE WHEN r.score >= 4 THEN 1.0 ELSE 0.0 END END)         AS csat,
        COUNT(CASE WHEN r.before THEN 1 END)                                               AS prev_csat_responses,
        AVG(CASE WHEN r.before THEN CASE WHEN r.score >= 4 THEN 1.0 ELSE 0.0 END END)      AS prev_csat
    FROM r CROSS JOIN dims AS d
    GROUP BY 1, 2
),
n AS (
    SELECT
        x.score,
        x.responded_at >= $period_start AND x.responded_at < $period_end        AS now,
        x.responded_at >= $prev_period_start AND x.responded_at < $period_start AS before,
        COALESCE(s.company_size, 'Unknown') AS company_size,
        COALESCE(s.tenure_band, 'Unknown')  AS tenure_band,
        COALESCE(s.region, 'Unknown')       AS region,
        COALESCE(s.industry, 'Unknown')     AS industry,
        COALESCE(s.value_tier, 'Unknown')   AS value_tier
    FROM nps AS x
    LEFT JOIN seg AS s ON s.customer_id = x.customer_id
    WHERE x.responded_at >= $prev_period_start AND x.responded_at < $period_end
),
nps_kpis AS (
    SELECT
        d.dimension,
        CASE d.dimension
            WHEN 'All' THEN 'All' WHEN 'value_tier' THEN n.value_tier WHEN 'company_size' THEN n.company_size
            WHEN 'tenure' THEN n.tenure_band WHEN 'region' THEN n.region WHEN 'industry' THEN n.industry
        END AS segment,
        COUNT(CASE WHEN n.now THEN 1 END) AS nps_responses,
        100.0 * AVG(CASE WHEN n.now THEN CASE WHEN n.score >= 9 THEN 1.0 WHEN n.score <= 6 THEN -1.0 ELSE 0.0 END END)    AS nps,
        100.0 * AVG(CASE WHEN n.before THEN CASE WHEN n.score >= 9 THEN 1.0 WHEN n.score <= 6 THEN -1.0 ELSE 0.0 END END) AS prev_nps
    FROM n CROSS JOIN dims AS d
    WHERE d.dimension <> 'channel'
    GROUP BY 1, 2
),
customers AS (
    SELECT
        d.dimension,
        CASE d.dimension
            WHEN 'All' THEN 'All' WHEN 'value_tier' THEN s.value_tier WHEN 'company_size' THEN s.company_size
            WHEN 'tenure' THEN s.tenure_band WHEN 'region' THEN s.region WHEN 'industry' THEN s.industry
        END AS segment,
        COUNT(*) AS customers
    FROM seg AS s CROSS JOIN dims AS d
    WHERE d.dimension <> 'channel'
    GROUP BY 1, 2
),
keys AS (
    SELECT dimension, segment FROM ticket_kpis
    UNION SELECT dimension, segment FROM csat_kpis
    UNION SELECT dimension, segment FROM nps_kpis
    UNION SELECT dimension, segment FROM customers
)
SELECT
    k.dimension,
    k.segment,
    CASE WHEN k.dimension = 'channel' THEN NULL ELSE COALESCE(c.customers, 0) END AS customers,
    COALESCE(tk.tickets, 0)                                                    AS tickets,
    COALESCE(tk.prev_tickets, 0)                                               AS prev_tickets,
    CAST(COALESCE(tk.tickets, 0) AS DOUBLE)
        / NULLIF(CASE WHEN k.dimension = 'channel' THEN (SELECT COUNT(*) FROM seg) ELSE c.customers END, 0)
        / $period_months                                                       AS requests_per_customer_month,
    tm.first_reply_median_h,
    tm.first_reply_p90_h,
    tm.prev_first_reply_median_h,
    COALESCE(tk.unanswered, 0)                                                 AS unanswered,
    tm.resolution_median_h,
    tm.resolution_p90_h,
    tm.prev_resolution_median_h,
    tk.touches,
    tk.reopen_rate,
    tk.escalation_rate,
    COALESCE(cs.csat_responses, 0)                                             AS csat_responses,
    cs.csat,
    COALESCE(cs.csat_responses, 0) < $min_responses                            AS csat_low_sample,
    cs.prev_csat,
    COALESCE(np.nps_responses, 0)                                              AS nps_responses,
    np.nps,
    np.prev_nps,
    tk.sentiment
FROM keys AS k
JOIN dims AS d ON d.dimension = k.dimension
LEFT JOIN customers AS c ON c.dimension = k.dimension AND c.segment = k.segment
LEFT JOIN ticket_kpis AS tk ON tk.dimension = k.dimension AND tk.segment = k.segment
LEFT JOIN time_kpis AS tm ON tm.dimension = k.dimension AND tm.segment = k.segment
LEFT JOIN csat_kpis AS cs ON cs.dimension = k.dimension AND cs.segment = k.segment
LEFT JOIN nps_kpis AS np ON np.dimension = k.dimension AND np.segment = k.segment
ORDER BY d.position, tickets DESC, k.segment

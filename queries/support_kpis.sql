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
--
-- How: tickets, ratings and NPS responses become one stream of events, each tagged with its
-- customer's segments in a single join, and one aggregation over every cut computes all the
-- figures; the segments' customers are counted beside it. Percentiles are exact (DataFusion's percentile_cont rounds its interpolation weight
-- to six decimals): each group's hours are collected and sorted, and the p-th is interpolated
-- between the values at positions ⌊p·(n−1)⌋ and ⌈p·(n−1)⌉.
-- pareto: optional csat, nps
-- pareto: format csat=percent prev_csat=percent csat_responses=count nps=number:0 prev_nps=number:0
-- pareto: format first_reply_median_h=number:1 first_reply_p90_h=number:1 resolution_median_h=number:1 resolution_p90_h=number:1
WITH seg AS (
    SELECT f.customer_id, f.company_size, f.tenure_band, f.region, f.industry, COALESCE(v.tier, 'Unscored') AS value_tier
    FROM customer_facts AS f
    LEFT JOIN value_tiers AS v ON v.customer_id = f.customer_id
),
dims AS (
    SELECT * FROM (VALUES ('All', 0), ('value_tier', 1), ('company_size', 2), ('tenure', 3), ('region', 4), ('industry', 5), ('channel', 6))
        AS d(dimension, position)
),
-- One row per ticket, rating and response of the two periods, with what each figure needs.
events AS (
    SELECT
        'ticket'                                                                                     AS kind,
        tk.customer_id,
        tk.channel,
        tk.created_at >= $period_start AND tk.created_at < $period_end                               AS now,
        tk.created_at >= $prev_period_start AND tk.created_at < $period_start                        AS before,
        -- A ticket "solved" before it was created is bad data (see data_quality), not a resolution.
        tk.solved_at >= $period_start AND tk.solved_at < $period_end AND tk.solved_at >= tk.created_at        AS solved_now,
        tk.solved_at >= $prev_period_start AND tk.solved_at < $period_start AND tk.solved_at >= tk.created_at AS solved_before,
        (date_part('epoch', tk.first_reply_at) - date_part('epoch', tk.created_at)) / 3600.0        AS reply_h,
        (date_part('epoch', tk.solved_at) - date_part('epoch', tk.created_at)) / 3600.0             AS resolution_h,
        tk.first_reply_at IS NULL                                                                    AS unanswered,
        tk.agent_replies,
        tk.reopens > 0                                                                               AS reopened,
        tk.escalated,
        tk.sentiment,
        CAST(NULL AS BIGINT)                                                                         AS score
    FROM tickets AS tk
    WHERE tk.created_at < $period_end
      AND (tk.created_at >= $prev_period_start OR tk.solved_at >= $prev_period_start)
    UNION ALL
    SELECT
        'csat', c.customer_id, COALESCE(tk.channel, 'Unknown'),
        c.rated_at >= $period_start AND c.rated_at < $period_end,
        c.rated_at >= $prev_period_start AND c.rated_at < $period_start,
        NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
        CAST(c.score AS BIGINT)
    FROM csat AS c
    LEFT JOIN tickets AS tk ON tk.ticket_id = c.ticket_id
    WHERE c.rated_at >= $prev_period_start AND c.rated_at < $period_end
    UNION ALL
    SELECT
        'nps', x.customer_id, NULL,
        x.responded_at >= $period_start AND x.responded_at < $period_end,
        x.responded_at >= $prev_period_start AND x.responded_at < $period_start,
        NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
        CAST(x.score AS BIGINT)
    FROM nps AS x
    WHERE x.responded_at >= $prev_period_start AND x.responded_at < $period_end
),
tagged AS (
    SELECT
        e.*,
        COALESCE(s.company_size, 'Unknown') AS company_size,
        COALESCE(s.tenure_band, 'Unknown')  AS tenure_band,
        COALESCE(s.region, 'Unknown')       AS region,
        COALESCE(s.industry, 'Unknown')     AS industry,
        COALESCE(s.value_tier, 'Unknown')   AS value_tier
    FROM events AS e
    LEFT JOIN seg AS s ON s.customer_id = e.customer_id
),
cuts AS (
    SELECT
        d.dimension,
        d.position,
        CASE d.dimension
            WHEN 'All' THEN 'All' WHEN 'value_tier' THEN t.value_tier WHEN 'company_size' THEN t.company_size
            WHEN 'tenure' THEN t.tenure_band WHEN 'region' THEN t.region WHEN 'industry' THEN t.industry
            WHEN 'channel' THEN t.channel
        END AS segment,
        t.*
    FROM tagged AS t
    CROSS JOIN dims AS d
    -- responses have no channel
    WHERE d.dimension <> 'channel' OR t.kind IN ('ticket', 'csat')
),
-- each segment's customers
customers AS (
    SELECT
        d.dimension,
        CASE d.dimension
            WHEN 'All' THEN 'All' WHEN 'value_tier' THEN s.value_tier WHEN 'company_size' THEN s.company_size
            WHEN 'tenure' THEN s.tenure_band WHEN 'region' THEN s.region WHEN 'industry' THEN s.industry
        END AS segment,
        COUNT(*) AS customers
    FROM seg AS s
    CROSS JOIN dims AS d
    WHERE d.dimension <> 'channel'
    GROUP BY 1, 2
),
agg AS (
    SELECT
        dimension,
        MIN(position)                                                                                AS position,
        segment,
        COUNT(*) FILTER (WHERE kind = 'ticket' AND now)                                              AS tickets,
        COUNT(*) FILTER (WHERE kind = 'ticket' AND before)                                           AS prev_tickets,
        COUNT(*) FILTER (WHERE kind = 'ticket' AND now AND unanswered)                               AS unanswered,
        array_agg(reply_h) FILTER (WHERE kind = 'ticket' AND now AND reply_h IS NOT NULL)         AS reply_hours,
        array_agg(reply_h) FILTER (WHERE kind = 'ticket' AND before AND reply_h IS NOT NULL)      AS prev_reply_hours,
        array_agg(resolution_h) FILTER (WHERE kind = 'ticket' AND solved_now)    AS resolution_hours,
        array_agg(resolution_h) FILTER (WHERE kind = 'ticket' AND solved_before) AS prev_resolution_hours,
        AVG(CAST(agent_replies AS DOUBLE)) FILTER (WHERE kind = 'ticket' AND solved_now)             AS touches,
        AVG(CASE WHEN reopened THEN 1.0 ELSE 0.0 END) FILTER (WHERE kind = 'ticket' AND solved_now)   AS reopen_rate,
        AVG(CASE WHEN escalated THEN 1.0 ELSE 0.0 END) FILTER (WHERE kind = 'ticket' AND now)         AS escalation_rate,
        -- summed exactly (as decimals) and divided last: the same figure whatever order rows come in
        CAST(SUM(CAST(sentiment AS DECIMAL(30, 15))) FILTER (WHERE kind = 'ticket' AND now) AS DOUBLE)
            / NULLIF(COUNT(sentiment) FILTER (WHERE kind = 'ticket' AND now), 0)                     AS sentiment,
        COUNT(*) FILTER (WHERE kind = 'csat' AND now)                                                AS csat_responses,
        AVG(CASE WHEN score >= 4 THEN 1.0 ELSE 0.0 END) FILTER (WHERE kind = 'csat' AND now)         AS csat,
        COUNT(*) FILTER (WHERE kind = 'csat' AND before)                                             AS prev_csat_responses,
        AVG(CASE WHEN score >= 4 THEN 1.0 ELSE 0.0 END) FILTER (WHERE kind = 'csat' AND before)      AS prev_csat,
        COUNT(*) FILTER (WHERE kind = 'nps' AND now)                                                 AS nps_responses,
        100.0 * AVG(CASE WHEN score >= 9 THEN 1.0 WHEN score <= 6 THEN -1.0 ELSE 0.0 END) FILTER (WHERE kind = 'nps' AND now)    AS nps,
        100.0 * AVG(CASE WHEN score >= 9 THEN 1.0 WHEN score <= 6 THEN -1.0 ELSE 0.0 END) FILTER (WHERE kind = 'nps' AND before) AS prev_nps
    FROM cuts
    GROUP BY dimension, segment
),
-- every segment that has customers or events
everything AS (
    SELECT
        COALESCE(a.dimension, c.dimension)                       AS dimension,
        COALESCE(a.position, d.position)                         AS position,
        COALESCE(a.segment, c.segment)                           AS segment,
        COALESCE(c.customers, 0)                                 AS customers,
        COALESCE(a.tickets, 0)                                   AS tickets,
        COALESCE(a.prev_tickets, 0)                              AS prev_tickets,
        COALESCE(a.unanswered, 0)                                AS unanswered,
        a.reply_hours, a.prev_reply_hours, a.resolution_hours, a.prev_resolution_hours,
        a.touches, a.reopen_rate, a.escalation_rate, a.sentiment,
        COALESCE(a.csat_responses, 0)                            AS csat_responses,
        a.csat,
        COALESCE(a.prev_csat_responses, 0)                       AS prev_csat_responses,
        a.prev_csat,
        COALESCE(a.nps_responses, 0)                             AS nps_responses,
        a.nps,
        a.prev_nps
    FROM agg AS a
    FULL JOIN customers AS c ON c.dimension = a.dimension AND c.segment IS NOT DISTINCT FROM a.segment
    LEFT JOIN dims AS d ON d.dimension = c.dimension
),
-- the p-th percentile of each sorted list of hours, p = 0.5 and 0.9
sorted AS (
    SELECT
        dimension, position, segment, customers, tickets, prev_tickets, unanswered,
        array_sort(reply_hours)                                 AS reply_hours,
        array_sort(prev_reply_hours)                            AS prev_reply_hours,
        array_sort(resolution_hours)                            AS resolution_hours,
        array_sort(prev_resolution_hours)                       AS prev_resolution_hours,
        touches, reopen_rate, escalation_rate, sentiment, csat_responses, csat, prev_csat_responses, prev_csat,
        nps_responses, nps, prev_nps,
        CAST(cardinality(reply_hours) AS BIGINT) - 1            AS reply_last,
        CAST(cardinality(prev_reply_hours) AS BIGINT) - 1       AS prev_reply_last,
        CAST(cardinality(resolution_hours) AS BIGINT) - 1       AS resolution_last,
        CAST(cardinality(prev_resolution_hours) AS BIGINT) - 1  AS prev_resolution_last,
        MAX(CASE WHEN dimension = 'All' THEN customers END) OVER () AS all_customers
    FROM everything
)
SELECT
    dimension,
    segment,
    CASE WHEN dimension = 'channel' THEN NULL ELSE customers END                AS customers,
    tickets,
    prev_tickets,
    CAST(tickets AS DOUBLE)
        / NULLIF(CASE WHEN dimension = 'channel' THEN all_customers ELSE customers END, 0)
        / $period_months                                                         AS requests_per_customer_month,
    reply_hours[CAST(FLOOR(0.5 * reply_last) AS BIGINT) + 1]
        + (0.5 * reply_last - FLOOR(0.5 * reply_last))
          * (reply_hours[CAST(CEIL(0.5 * reply_last) AS BIGINT) + 1] - reply_hours[CAST(FLOOR(0.5 * reply_last) AS BIGINT) + 1])
                                                                                 AS first_reply_median_h,
    reply_hours[CAST(FLOOR(0.9 * reply_last) AS BIGINT) + 1]
        + (0.9 * reply_last - FLOOR(0.9 * reply_last))
          * (reply_hours[CAST(CEIL(0.9 * reply_last) AS BIGINT) + 1] - reply_hours[CAST(FLOOR(0.9 * reply_last) AS BIGINT) + 1])
                                                                                 AS first_reply_p90_h,
    prev_reply_hours[CAST(FLOOR(0.5 * prev_reply_last) AS BIGINT) + 1]
        + (0.5 * prev_reply_last - FLOOR(0.5 * prev_reply_last))
          * (prev_reply_hours[CAST(CEIL(0.5 * prev_reply_last) AS BIGINT) + 1]
             - prev_reply_hours[CAST(FLOOR(0.5 * prev_reply_last) AS BIGINT) + 1])
                                                                                 AS prev_first_reply_median_h,
    unanswered,
    resolution_hours[CAST(FLOOR(0.5 * resolution_last) AS BIGINT) + 1]
        + (0.5 * resolution_last - FLOOR(0.5 * resolution_last))
          * (resolution_hours[CAST(CEIL(0.5 * resolution_last) AS BIGINT) + 1]
             - resolution_hours[CAST(FLOOR(0.5 * resolution_last) AS BIGINT) + 1])
                                                                                 AS resolution_median_h,
    resolution_hours[CAST(FLOOR(0.9 * resolution_last) AS BIGINT) + 1]
        + (0.9 * resolution_last - FLOOR(0.9 * resolution_last))
          * (resolution_hours[CAST(CEIL(0.9 * resolution_last) AS BIGINT) + 1]
             - resolution_hours[CAST(FLOOR(0.9 * resolution_last) AS BIGINT) + 1])
                                                                                 AS resolution_p90_h,
    prev_resolution_hours[CAST(FLOOR(0.5 * prev_resolution_last) AS BIGINT) + 1]
        + (0.5 * prev_resolution_last - FLOOR(0.5 * prev_resolution_last))
          * (prev_resolution_hours[CAST(CEIL(0.5 * prev_resolution_last) AS BIGINT) + 1]
             - prev_resolution_hours[CAST(FLOOR(0.5 * prev_resolution_last) AS BIGINT) + 1])
                                                                                 AS prev_resolution_median_h,
    touches,
    reopen_rate,
    escalation_rate,
    csat_responses,
    csat,
    csat_responses < $min_responses                                              AS csat_low_sample,
    prev_csat,
    nps_responses,
    nps,
    prev_nps,
    sentiment
FROM sorted
ORDER BY position, tickets DESC, segment

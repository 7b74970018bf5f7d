-- The headline's support figures for each of the twelve periods up to the period's end, for the
-- sparklines beside them, periods counted as in `headline_trend` (12 is this one). For every
-- customer, like support_kpis' All row:
--   tickets                created in the period
--   first_reply_median_h   the exact median of first_reply_at − created_at, in hours, of the
--                          period's tickets that have a reply
--   csat                   share of ratings 4 or 5 among ratings given in the period
-- pareto: optional csat
-- pareto: format period=count tickets=count first_reply_median_h=number:1 csat=percent csat_responses=count
WITH len AS (
    SELECT
        date_part('epoch', $period_start)                                   AS start_s,
        date_part('epoch', $period_end) - date_part('epoch', $period_start) AS secs
),
t AS (
    SELECT
        12 + CAST(FLOOR((date_part('epoch', tk.created_at) - l.start_s) / l.secs) AS BIGINT)                AS period,
        COUNT(*)                                                                                            AS tickets,
        array_sort(array_agg((date_part('epoch', tk.first_reply_at) - date_part('epoch', tk.created_at)) / 3600.0)
            FILTER (WHERE tk.first_reply_at IS NOT NULL))                                                   AS hours
    FROM tickets AS tk
    CROSS JOIN len AS l
    WHERE tk.created_at < $period_end
      AND date_part('epoch', tk.created_at) >= l.start_s - 11 * l.secs
      -- the same bound (a second looser) as a time, which the scan prunes row groups and pages by
      AND tk.created_at >= to_timestamp(date_part('epoch', $period_start)
                                - 11 * (date_part('epoch', $period_end) - date_part('epoch', $period_start)) - 1)
    GROUP BY 1
),
r AS (
    SELECT
        12 + CAST(FLOOR((date_part('epoch', c.rated_at) - l.start_s) / l.secs) AS BIGINT) AS period,
        COUNT(*)                                                                          AS csat_responses,
        AVG(CASE WHEN c.score >= 4 THEN 1.0 ELSE 0.0 END)                                 AS csat
    FROM csat AS c
    CROSS JOIN len AS l
    WHERE c.rated_at < $period_end
      AND date_part('epoch', c.rated_at) >= l.start_s - 11 * l.secs
      -- the same bound (a second looser) as a time, which the scan prunes row groups and pages by
      AND c.rated_at >= to_timestamp(date_part('epoch', $period_start)
                                - 11 * (date_part('epoch', $period_end) - date_part('epoch', $period_start)) - 1)
    GROUP BY 1
),
-- the middle value, or the mean of the two middle values (support_kpis' interpolation at p = 0.5)
m AS (
    SELECT period, tickets, hours, CAST(cardinality(hours) AS BIGINT) - 1 AS last FROM t
)
SELECT
    p.value                                                             AS period,
    COALESCE(m.tickets, 0)                                              AS tickets,
    m.hours[CAST(FLOOR(0.5 * m.last) AS BIGINT) + 1]
        + (0.5 * m.last - FLOOR(0.5 * m.last))
          * (m.hours[CAST(CEIL(0.5 * m.last) AS BIGINT) + 1] - m.hours[CAST(FLOOR(0.5 * m.last) AS BIGINT) + 1])
                                                                        AS first_reply_median_h,
    r.csat,
    COALESCE(r.csat_responses, 0)                                       AS csat_responses
FROM generate_series(1, 12) AS p
LEFT JOIN m ON m.period = p.value
LEFT JOIN r ON r.period = p.value
ORDER BY p.value

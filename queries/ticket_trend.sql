-- Weekly support for the last 13 weeks to the period's end, per tenure band and for All: tickets
-- created, CSAT of ratings given that week (with the count), and the median first reply in hours
-- of that week's tickets. Weeks start on Monday (UTC). A rise among First90 customers is the
-- classic early signal.
-- pareto: optional csat
WITH bounds AS (
    SELECT date_trunc('week', $period_end - INTERVAL '1 microsecond') - INTERVAL '12 weeks' AS first_week
),
t AS (
    SELECT
        date_trunc('week', tk.created_at)                              AS week,
        COALESCE(f.tenure_band, 'Unknown')                             AS tenure_band,
        (date_part('epoch', tk.first_reply_at) - date_part('epoch', tk.created_at)) / 3600.0 AS reply_h
    FROM tickets AS tk
    LEFT JOIN customer_facts AS f ON f.customer_id = tk.customer_id
    CROSS JOIN bounds AS b
    WHERE tk.created_at >= b.first_week AND tk.created_at < $period_end
),
cut AS (
    SELECT week, tenure_band AS segment, reply_h FROM t UNION ALL SELECT week, 'All' AS segment, reply_h FROM t
),
-- The exact median: the middle value, or the mean of the two middle values.
ranked AS (
    SELECT week, segment, reply_h,
           ROW_NUMBER() OVER (PARTITION BY week, segment ORDER BY reply_h) AS i,
           COUNT(*) OVER (PARTITION BY week, segment)                      AS n
    FROM cut WHERE reply_h IS NOT NULL
),
medians AS (
    SELECT week, segment, AVG(reply_h) AS first_reply_median_h
    FROM ranked WHERE i IN ((n + 1) / 2, (n + 2) / 2)
    GROUP BY week, segment
),
tc AS (
    SELECT c.week, c.segment, COUNT(*) AS tickets, MAX(m.first_reply_median_h) AS first_reply_median_h
    FROM cut AS c LEFT JOIN medians AS m ON m.week = c.week AND m.segment = c.segment
    GROUP BY c.week, c.segment
),
r AS (
    SELECT date_trunc('week', c.rated_at) AS week, COALESCE(f.tenure_band, 'Unknown') AS tenure_band, c.score
    FROM csat AS c
    LEFT JOIN customer_facts AS f ON f.customer_id = c.customer_id
    CROSS JOIN bounds AS b
    WHERE c.rated_at >= b.first_week AND c.rated_at < $period_end
),
rc AS (
    SELECT week, segment, COUNT(*) AS csat_responses, AVG(CASE WHEN score >= 4 THEN 1.0 ELSE 0.0 END) AS csat
    FROM (SELECT week, tenure_band AS segment, score FROM r UNION ALL SELECT week, 'All' AS segment, score FROM r)
    GROUP BY week, segment
)
SELECT
    CAST(COALESCE(tc.week, rc.week) AS DATE) AS week,
    COALESCE(tc.segment, rc.segment)         AS segment,
    COALESCE(tc.tickets, 0)                  AS tickets,
    rc.csat,
    COALESCE(rc.csat_responses, 0)           AS csat_responses,
    tc.first_reply_median_h
FROM tc
FULL JOIN rc ON rc.week = tc.week AND rc.segment = tc.segment
ORDER BY CASE COALESCE(tc.segment, rc.segment) WHEN 'All' THEN 0 WHEN 'First90' THEN 1 ELSE 2 END, 2, 1

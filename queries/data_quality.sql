-- Data health, one row per (table, check): how much data there is, how fresh it is against the
-- run's as-of time, and what is missing or out of place. `problem` counts rows that are wrong (0 is
-- good); `share` is that count over the table's rows; `status` is info, ok or problem.
--   rows, newest, hours_old     size and the newest timestamp (freshness)
--   null:<column>               rows where a contract column is empty
--   duplicate keys              rows sharing a key with an earlier row
--   orphans                     rows whose customer_id is not in customers
--   out of range                CSAT outside 1–5, NPS outside 0–10, negative amounts or MRR,
--                               amounts or MRR that are not finite numbers (NaN, ±infinity: a
--                               float column can hold them, and one blanks every sum it is in),
--                               solved before created, non-standard country codes, and
--                               timestamps before 1900 or after 2200 (a writer's unit mix-up or
--                               a sentinel value: every period's query leaves such rows out, so
--                               only this check shows them)
-- Each table is read once for its counts (one row per table, then one row per check), its
-- duplicate keys among them: rows less the different keys, which `count_distinct` counts in a
-- bitmap (grouping 20.9M order ids to count them took 6 s of CPU and 1 GiB at a million customers;
-- DataFusion's COUNT(DISTINCT …) 36 s).
-- pareto: optional subscriptions, tickets, csat, nps
-- Orphans come from anti-joins against customers, which pass on only the rows they count (a left
-- join would carry every row of the table through it).
WITH orphans AS (
    SELECT
        (SELECT COUNT(*) FROM orders AS o WHERE o.ordered_at < $as_of
            AND NOT EXISTS (SELECT 1 FROM customers AS c WHERE c.customer_id = o.customer_id)) AS orders,
        (SELECT COUNT(*) FROM subscriptions AS s
            WHERE NOT EXISTS (SELECT 1 FROM customers AS c WHERE c.customer_id = s.customer_id)) AS subscriptions,
        (SELECT COUNT(*) FROM tickets AS t WHERE t.created_at < $as_of
            AND NOT EXISTS (SELECT 1 FROM customers AS c WHERE c.customer_id = t.customer_id)) AS tickets,
        (SELECT COUNT(*) FROM csat AS r WHERE r.rated_at < $as_of
            AND NOT EXISTS (SELECT 1 FROM customers AS c WHERE c.customer_id = r.customer_id)) AS csat,
        (SELECT COUNT(*) FROM nps AS n WHERE n.responded_at < $as_of
            AND NOT EXISTS (SELECT 1 FROM customers AS c WHERE c.customer_id = n.customer_id)) AS nps
),
odd AS (
    SELECT
        (SELECT COUNT(*) FROM orders WHERE ordered_at < TIMESTAMP '1900-01-01 00:00:00' OR ordered_at >= TIMESTAMP '2200-01-01 00:00:00') AS orders,
        (SELECT COUNT(*) FROM tickets WHERE created_at < TIMESTAMP '1900-01-01 00:00:00' OR created_at >= TIMESTAMP '2200-01-01 00:00:00'
                                          OR solved_at >= TIMESTAMP '2200-01-01 00:00:00' OR first_reply_at >= TIMESTAMP '2200-01-01 00:00:00') AS tickets,
        (SELECT COUNT(*) FROM csat WHERE rated_at < TIMESTAMP '1900-01-01 00:00:00' OR rated_at >= TIMESTAMP '2200-01-01 00:00:00') AS csat,
        (SELECT COUNT(*) FROM nps WHERE responded_at < TIMESTAMP '1900-01-01 00:00:00' OR responded_at >= TIMESTAMP '2200-01-01 00:00:00') AS nps
),
cu AS (
    SELECT
        COUNT(*)                                                                           AS total,
        -- rows beyond the first of each key (a row without a key counts as a duplicate)
        COUNT(*) - count_distinct(customer_id)                                             AS duplicate_keys,
        COUNT(*) - COUNT(employees)                                                        AS null_employees,
        COUNT(*) - COUNT(industry)                                                         AS null_industry,
        COUNT(CASE WHEN country IS NULL OR NOT regexp_like(country, '^[A-Z]{2}$') THEN 1 END) AS bad_country
    FROM customers
),
od AS (
    SELECT
        COUNT(*)                                 AS total,
        COUNT(*) - count_distinct(o.order_id)    AS duplicate_keys,
        MAX(o.ordered_at)                        AS newest,
        COUNT(*) - COUNT(o.cost)                 AS null_cost,
        COUNT(CASE WHEN o.amount < 0 THEN 1 END) AS negative,
        -- only a float column can hold NaN or ±infinity: a decimal one is not cast value by value
        -- to find none (that took 0.6 s of CPU over 21M orders)
        COUNT(CASE WHEN arrow_typeof(o.amount) LIKE 'Float%'
                        AND (isnan(CAST(o.amount AS DOUBLE)) OR abs(CAST(o.amount AS DOUBLE)) = CAST('Infinity' AS DOUBLE))
                     OR arrow_typeof(o.cost) LIKE 'Float%'
                        AND (isnan(CAST(o.cost AS DOUBLE)) OR abs(CAST(o.cost AS DOUBLE)) = CAST('Infinity' AS DOUBLE)) THEN 1 END) AS not_finite
    FROM orders AS o
    WHERE o.ordered_at < $as_of
),
su AS (
    SELECT
        COUNT(*)                               AS total,
        MAX(s.month)                           AS newest,
        COUNT(CASE WHEN s.mrr < 0 THEN 1 END)  AS negative,
        COUNT(CASE WHEN arrow_typeof(s.mrr) LIKE 'Float%'
                        AND (isnan(CAST(s.mrr AS DOUBLE)) OR abs(CAST(s.mrr AS DOUBLE)) = CAST('Infinity' AS DOUBLE)) THEN 1 END) AS not_finite
    FROM subscriptions AS s
),
tk AS (
    SELECT
        COUNT(*)                                                  AS total,
        COUNT(*) - count_distinct(t.ticket_id)                    AS duplicate_keys,
        MAX(t.created_at)                                         AS newest,
        COUNT(*) - COUNT(t.first_reply_at)                        AS null_first_reply,
        COUNT(*) - COUNT(t.sentiment)                             AS null_sentiment,
        COUNT(CASE WHEN t.solved_at < t.created_at THEN 1 END)    AS solved_before_created
    FROM tickets AS t
    WHERE t.created_at < $as_of
),
cs AS (
    SELECT
        COUNT(*)                                                   AS total,
        MAX(c.rated_at)                                            AS newest,
        COUNT(CASE WHEN c.score < 1 OR c.score > 5 THEN 1 END)     AS out_of_range
    FROM csat AS c
    WHERE c.rated_at < $as_of
),
np AS (
    SELECT
        COUNT(*)                                                   AS total,
        MAX(n.responded_at)                                        AS newest,
        COUNT(CASE WHEN n.score < 0 OR n.score > 10 THEN 1 END)    AS out_of_range
    FROM nps AS n
    WHERE n.responded_at < $as_of
),
checks AS (
    SELECT 'customers' AS table_name, 1 AS position, c.check_name,
        CASE c.check_name
            WHEN 'duplicate keys' THEN cu.duplicate_keys
            WHEN 'null: employees' THEN cu.null_employees
            WHEN 'null: industry' THEN cu.null_industry
            WHEN 'out of range: country not ISO-2' THEN cu.bad_country
            ELSE 0
        END AS problem,
        cu.total, CAST(NULL AS TIMESTAMP) AS newest
    FROM cu CROSS JOIN (VALUES ('rows'), ('duplicate keys'), ('null: employees'), ('null: industry'),
                               ('out of range: country not ISO-2')) AS c(check_name)
    UNION ALL
    SELECT 'orders', 2, c.check_name,
        CASE c.check_name
            WHEN 'duplicate keys' THEN od.duplicate_keys
            WHEN 'null: cost' THEN od.null_cost
            WHEN 'orphans' THEN orphans.orders
            WHEN 'out of range: negative amount' THEN od.negative
            WHEN 'out of range: amount or cost not a finite number' THEN od.not_finite
            WHEN 'out of range: ordered_at before 1900 or after 2200' THEN odd.orders
            ELSE 0
        END,
        od.total, CASE WHEN c.check_name = 'rows' THEN od.newest END
    FROM od CROSS JOIN odd CROSS JOIN orphans CROSS JOIN (VALUES ('rows'), ('duplicate keys'), ('null: cost'), ('orphans'),
                               ('out of range: negative amount'), ('out of range: amount or cost not a finite number'),
                               ('out of range: ordered_at before 1900 or after 2200')) AS c(check_name)
    UNION ALL
    SELECT 'subscriptions', 3, c.check_name,
        CASE c.check_name
            WHEN 'orphans' THEN orphans.subscriptions
            WHEN 'out of range: negative MRR' THEN su.negative
            WHEN 'out of range: MRR not a finite number' THEN su.not_finite
            ELSE 0
        END,
        su.total, CASE WHEN c.check_name = 'rows' THEN CAST(su.newest AS TIMESTAMP) END
    FROM su CROSS JOIN orphans CROSS JOIN (VALUES ('rows'), ('orphans'), ('out of range: negative MRR'), ('out of range: MRR not a finite number')) AS c(check_name)
    UNION ALL
    SELECT 'tickets', 4, c.check_name,
        CASE c.check_name
            WHEN 'duplicate keys' THEN tk.duplicate_keys
            WHEN 'null: first_reply_at (unanswered)' THEN tk.null_first_reply
            WHEN 'null: sentiment' THEN tk.null_sentiment
            WHEN 'orphans' THEN orphans.tickets
            WHEN 'out of range: solved before created' THEN tk.solved_before_created
            WHEN 'out of range: a timestamp before 1900 or after 2200' THEN odd.tickets
            ELSE 0
        END,
        tk.total, CASE WHEN c.check_name = 'rows' THEN tk.newest END
    FROM tk CROSS JOIN odd CROSS JOIN orphans CROSS JOIN (VALUES ('rows'), ('duplicate keys'), ('null: first_reply_at (unanswered)'), ('null: sentiment'),
                               ('orphans'), ('out of range: solved before created'),
                               ('out of range: a timestamp before 1900 or after 2200')) AS c(check_name)
    UNION ALL
    SELECT 'csat', 5, c.check_name,
        CASE c.check_name
            WHEN 'orphans' THEN orphans.csat
            WHEN 'out of range: score not 1-5' THEN cs.out_of_range
            WHEN 'out of range: rated_at before 1900 or after 2200' THEN odd.csat
            ELSE 0
        END,
        cs.total, CASE WHEN c.check_name = 'rows' THEN cs.newest END
    FROM cs CROSS JOIN odd CROSS JOIN orphans CROSS JOIN (VALUES ('rows'), ('orphans'), ('out of range: score not 1-5'),
                               ('out of range: rated_at before 1900 or after 2200')) AS c(check_name)
    UNION ALL
    SELECT 'nps', 6, c.check_name,
        CASE c.check_name
            WHEN 'orphans' THEN orphans.nps
            WHEN 'out of range: score not 0-10' THEN np.out_of_range
            WHEN 'out of range: responded_at before 1900 or after 2200' THEN odd.nps
            ELSE 0
        END,
        np.total, CASE WHEN c.check_name = 'rows' THEN np.newest END
    FROM np CROSS JOIN odd CROSS JOIN orphans CROSS JOIN (VALUES ('rows'), ('orphans'), ('out of range: score not 0-10'),
                               ('out of range: responded_at before 1900 or after 2200')) AS c(check_name)
)
SELECT
    table_name,
    check_name,
    CASE WHEN check_name = 'rows' THEN 0 ELSE problem END                      AS problem,
    total                                                                      AS rows,
    CASE WHEN check_name = 'rows' THEN NULL ELSE CAST(problem AS DOUBLE) / NULLIF(total, 0) END AS share,
    CASE WHEN check_name = 'rows' THEN 'info' WHEN problem > 0 THEN 'problem' ELSE 'ok' END    AS status,
    CAST(newest AS TIMESTAMP)                                                  AS newest,
    (date_part('epoch', $as_of) - date_part('epoch', newest)) / 3600.0                               AS hours_old
FROM checks
ORDER BY position, CASE WHEN check_name = 'rows' THEN 0 ELSE 1 END, check_name

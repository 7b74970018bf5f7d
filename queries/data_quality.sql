-- Data health, one row per (table, check): how much data there is, how fresh it is against the
-- run's as-of time, and what is missing or out of place. `problem` counts rows that are wrong (0 is
-- good); `share` is that count over the table's rows; `status` is info, ok or problem.
--   rows, newest, hours_old     size and the newest timestamp (freshness)
--   null:<column>               rows where a contract column is empty
--   duplicate keys              rows sharing a key with an earlier row
--   orphans                     rows whose customer_id is not in customers
--   out of range                CSAT outside 1–5, NPS outside 0–10, negative amounts or MRR,
--                               solved before created, non-standard country codes
-- pareto: optional subscriptions, tickets, csat, nps
WITH known AS (SELECT DISTINCT customer_id AS known_id FROM customers),
o AS (SELECT * FROM orders WHERE ordered_at < $as_of),
t AS (SELECT * FROM tickets WHERE created_at < $as_of),
c AS (SELECT * FROM csat WHERE rated_at < $as_of),
n AS (SELECT * FROM nps WHERE responded_at < $as_of),
checks AS (
    SELECT 'customers' AS table_name, 1 AS position, 'rows' AS check_name, 0 AS problem, COUNT(*) AS total, CAST(NULL AS TIMESTAMP) AS newest FROM customers
    UNION ALL SELECT 'customers', 1, 'duplicate keys', COUNT(*) - COUNT(DISTINCT customer_id), COUNT(*), NULL FROM customers
    UNION ALL SELECT 'customers', 1, 'null: employees', COUNT(*) - COUNT(employees), COUNT(*), NULL FROM customers
    UNION ALL SELECT 'customers', 1, 'null: industry', COUNT(*) - COUNT(industry), COUNT(*), NULL FROM customers
    UNION ALL SELECT 'customers', 1, 'out of range: country not ISO-2',
        COUNT(CASE WHEN country IS NULL OR NOT regexp_like(country, '^[A-Z]{2}$') THEN 1 END), COUNT(*), NULL FROM customers
    UNION ALL SELECT 'orders', 2, 'rows', 0, COUNT(*), MAX(ordered_at) FROM o
    UNION ALL SELECT 'orders', 2, 'duplicate keys', COUNT(*) - COUNT(DISTINCT order_id), COUNT(*), NULL FROM o
    UNION ALL SELECT 'orders', 2, 'null: cost', COUNT(*) - COUNT(cost), COUNT(*), NULL FROM o
    UNION ALL SELECT 'orders', 2, 'orphans', COUNT(*) - COUNT(k.known_id), COUNT(*), NULL FROM o LEFT JOIN known AS k ON k.known_id = o.customer_id
    UNION ALL SELECT 'orders', 2, 'out of range: negative amount', COUNT(CASE WHEN amount < 0 THEN 1 END), COUNT(*), NULL FROM o
    UNION ALL SELECT 'subscriptions', 3, 'rows', 0, COUNT(*), CAST(MAX(month) AS TIMESTAMP) FROM subscriptions
    UNION ALL SELECT 'subscriptions', 3, 'orphans', COUNT(*) - COUNT(k.known_id), COUNT(*), NULL FROM subscriptions LEFT JOIN known AS k ON k.known_id = subscriptions.customer_id
    UNION ALL SELECT 'subscriptions', 3, 'out of range: negative MRR', COUNT(CASE WHEN mrr < 0 THEN 1 END), COUNT(*), NULL FROM subscriptions
    UNION ALL SELECT 'tickets', 4, 'rows', 0, COUNT(*), MAX(created_at) FROM t
    UNION ALL SELECT 'tickets', 4, 'duplicate keys', COUNT(*) - COUNT(DISTINCT ticket_id), COUNT(*), NULL FROM t
    UNION ALL SELECT 'tickets', 4, 'null: first_reply_at (unanswered)', COUNT(*) - COUNT(first_reply_at), COUNT(*), NULL FROM t
    UNION ALL SELECT 'tickets', 4, 'null: sentiment', COUNT(*) - COUNT(sentiment), COUNT(*), NULL FROM t
    UNION ALL SELECT 'tickets', 4, 'orphans', COUNT(*) - COUNT(k.known_id), COUNT(*), NULL FROM t LEFT JOIN known AS k ON k.known_id = t.customer_id
    UNION ALL SELECT 'tickets', 4, 'out of range: solved before created', COUNT(CASE WHEN solved_at < created_at THEN 1 END), COUNT(*), NULL FROM t
    UNION ALL SELECT 'csat', 5, 'rows', 0, COUNT(*), MAX(rated_at) FROM c
    UNION ALL SELECT 'csat', 5, 'orphans', COUNT(*) - COUNT(k.known_id), COUNT(*), NULL FROM c LEFT JOIN known AS k ON k.known_id = c.customer_id
    UNION ALL SELECT 'csat', 5, 'out of range: score not 1-5', COUNT(CASE WHEN score < 1 OR score > 5 THEN 1 END), COUNT(*), NULL FROM c
    UNION ALL SELECT 'nps', 6, 'rows', 0, COUNT(*), MAX(responded_at) FROM n
    UNION ALL SELECT 'nps', 6, 'orphans', COUNT(*) - COUNT(k.known_id), COUNT(*), NULL FROM n LEFT JOIN known AS k ON k.known_id = n.customer_id
    UNION ALL SELECT 'nps', 6, 'out of range: score not 0-10', COUNT(CASE WHEN score < 0 OR score > 10 THEN 1 END), COUNT(*), NULL FROM n
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

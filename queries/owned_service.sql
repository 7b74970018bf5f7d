-- Support for each account manager's accounts, per tier, over tickets opened in the period,
-- against the tier's service level ([service_levels] in the job):
--   first_reply_met   share of those tickets first answered within the tier's first_reply_hours
--                     (a ticket not yet answered has not met it)
--   resolution_met    share of those solved by the period's end within its resolution_hours
--   csat              share of ratings 4 or 5 among the accounts' ratings given in the period
-- pareto: archive off
-- pareto: optional csat
WITH t AS (
    SELECT
        a.owner_id,
        a.tier,
        (date_part('epoch', tk.first_reply_at) - date_part('epoch', tk.created_at)) / 3600.0 AS reply_h,
        CASE WHEN tk.solved_at < $period_end
             THEN (date_part('epoch', tk.solved_at) - date_part('epoch', tk.created_at)) / 3600.0 END AS resolution_h,
        tk.escalated
    FROM tickets AS tk
    JOIN owned_accounts AS a ON a.customer_id = tk.customer_id
    WHERE tk.created_at >= $period_start AND tk.created_at < $period_end
),
r AS (
    SELECT a.owner_id, a.tier, COUNT(*) AS ratings, AVG(CASE WHEN c.score >= 4 THEN 1.0 ELSE 0.0 END) AS csat
    FROM csat AS c
    JOIN owned_accounts AS a ON a.customer_id = c.customer_id
    WHERE c.rated_at >= $period_start AND c.rated_at < $period_end
    GROUP BY a.owner_id, a.tier
)
SELECT
    t.owner_id,
    t.tier,
    COALESCE(s.position, 99)                                                      AS position,
    COUNT(*)                                                                      AS tickets,
    median(t.reply_h)                                                             AS first_reply_median_h,
    s.first_reply_hours                                                           AS first_reply_target_h,
    AVG(CASE WHEN t.reply_h <= s.first_reply_hours THEN 1.0 ELSE 0.0 END)         AS first_reply_met,
    s.resolution_hours                                                            AS resolution_target_h,
    AVG(CASE WHEN t.resolution_h IS NOT NULL
             THEN CASE WHEN t.resolution_h <= s.resolution_hours THEN 1.0 ELSE 0.0 END END) AS resolution_met,
    AVG(CASE WHEN t.escalated THEN 1.0 ELSE 0.0 END)                              AS escalation_rate,
    MAX(r.ratings)                                                                AS csat_responses,
    MAX(r.csat)                                                                   AS csat
FROM t
LEFT JOIN service_levels AS s ON s.tier = t.tier
LEFT JOIN r ON r.owner_id = t.owner_id AND r.tier = t.tier
GROUP BY t.owner_id, t.tier, s.position, s.first_reply_hours, s.resolution_hours

-- Service-level attainment per value tier, for tiers whose [service_levels] set hour targets:
--   first_reply_met   share of tickets created in the period whose first reply came within the
--                     tier's first_reply_hours (a ticket still unanswered has not met it)
--   resolution_met    share of tickets solved in the period that were solved within the tier's
--                     resolution_hours
WITH t AS (
    SELECT
        v.tier,
        tk.created_at >= $period_start AND tk.created_at < $period_end AS created_now,
        tk.solved_at >= $period_start AND tk.solved_at < $period_end AND tk.solved_at >= tk.created_at AS solved_now,
        (date_part('epoch', tk.first_reply_at) - date_part('epoch', tk.created_at)) / 3600.0 AS reply_h,
        (date_part('epoch', tk.solved_at) - date_part('epoch', tk.created_at)) / 3600.0      AS resolution_h
    FROM tickets AS tk
    JOIN value_tiers AS v ON v.customer_id = tk.customer_id
    WHERE tk.created_at < $period_end
      -- only tickets created or solved in the period count
      AND (tk.created_at >= $period_start OR tk.solved_at >= $period_start)
)
SELECT
    s.tier,
    s.promise,
    s.first_reply_hours                                                                            AS first_reply_target_h,
    COUNT(CASE WHEN t.created_now THEN 1 END)                                                      AS tickets,
    AVG(CASE WHEN t.created_now THEN CASE WHEN t.reply_h <= s.first_reply_hours THEN 1.0 ELSE 0.0 END END) AS first_reply_met,
    s.resolution_hours                                                                             AS resolution_target_h,
    COUNT(CASE WHEN t.solved_now THEN 1 END)                                                       AS solved,
    AVG(CASE WHEN t.solved_now THEN CASE WHEN t.resolution_h <= s.resolution_hours THEN 1.0 ELSE 0.0 END END) AS resolution_met
FROM service_levels AS s
LEFT JOIN t ON t.tier = s.tier
WHERE s.first_reply_hours IS NOT NULL OR s.resolution_hours IS NOT NULL
GROUP BY s.tier, s.position, s.promise, s.first_reply_hours, s.resolution_hours
ORDER BY s.position

-- How tickets solved in the period were resolved (self-service, agent, bug fix, refund, …), for all
-- customers and per value tier, with each way's share of the segment's solved tickets.
WITH t AS (
    SELECT COALESCE(tk.resolution, 'unrecorded') AS resolution, COALESCE(v.tier, 'Unknown') AS value_tier
    FROM tickets AS tk
    LEFT JOIN value_tiers AS v ON v.customer_id = tk.customer_id
    WHERE tk.solved_at >= $period_start AND tk.solved_at < $period_end
),
cuts AS (
    SELECT d.dimension, d.position, CASE d.dimension WHEN 'All' THEN 'All' ELSE t.value_tier END AS segment, t.resolution
    FROM t CROSS JOIN (VALUES ('All', 0), ('value_tier', 1)) AS d(dimension, position)
)
SELECT
    dimension,
    segment,
    resolution,
    COUNT(*)                                                               AS tickets,
    CAST(COUNT(*) AS DOUBLE) / SUM(COUNT(*)) OVER (PARTITION BY dimension, segment) AS share
FROM cuts
GROUP BY dimension, position, segment, resolution
ORDER BY position, segment, tickets DESC, resolution

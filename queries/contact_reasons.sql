-- Why customers write in: the top reasons among tickets created in the period, for all customers
-- and per value tier and tenure band, with each reason's share of the segment's tickets and the
-- change in that share against the previous period in percentage points (share_change_pp). The
-- biggest risers come first.
WITH t AS (
    SELECT
        tk.reason,
        tk.created_at >= $period_start AS now,
        COALESCE(v.tier, 'Unknown')        AS value_tier,
        COALESCE(f.tenure_band, 'Unknown') AS tenure_band
    FROM tickets AS tk
    LEFT JOIN value_tiers AS v ON v.customer_id = tk.customer_id
    LEFT JOIN customer_facts AS f ON f.customer_id = tk.customer_id
    WHERE tk.created_at >= $prev_period_start AND tk.created_at < $period_end
),
cuts AS (
    SELECT d.dimension, d.position,
           CASE d.dimension WHEN 'All' THEN 'All' WHEN 'value_tier' THEN t.value_tier ELSE t.tenure_band END AS segment,
           t.reason, t.now
    FROM t CROSS JOIN (VALUES ('All', 0), ('value_tier', 1), ('tenure', 2)) AS d(dimension, position)
),
counts AS (
    SELECT dimension, MIN(position) AS position, segment, reason,
           COUNT(CASE WHEN now THEN 1 END)     AS tickets,
           COUNT(CASE WHEN NOT now THEN 1 END) AS prev_tickets
    FROM cuts
    GROUP BY dimension, segment, reason
),
shares AS (
    SELECT *,
           CAST(tickets AS DOUBLE) / NULLIF(SUM(tickets) OVER (PARTITION BY dimension, segment), 0)           AS share,
           CAST(prev_tickets AS DOUBLE) / NULLIF(SUM(prev_tickets) OVER (PARTITION BY dimension, segment), 0) AS prev_share
    FROM counts
)
SELECT dimension, segment, reason, tickets, share, prev_tickets, prev_share, 100 * (share - prev_share) AS share_change_pp
FROM shares
WHERE tickets > 0 OR prev_tickets > 0
ORDER BY position, segment, share_change_pp DESC NULLS LAST, tickets DESC, reason

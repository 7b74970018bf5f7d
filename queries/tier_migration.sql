-- How customers moved between value tiers from the previous period's end to this period's end:
-- one row per tier they came from ('New' when not scored before), with how many went to each
-- tier now, and the revenue (twelve months to this period's end) of those who changed tier.
WITH m AS (
    SELECT
        COALESCE(p.tier, 'New') AS from_tier,
        c.tier                  AS to_tier,
        c.customer_id
    FROM value_tiers AS c
    LEFT JOIN value_tiers__prev AS p ON p.customer_id = c.customer_id
)
SELECT
    m.from_tier,
    COUNT(*)                                                            AS customers,
    COUNT(CASE WHEN m.to_tier = 'A' THEN 1 END)                         AS to_a,
    COUNT(CASE WHEN m.to_tier = 'B' THEN 1 END)                         AS to_b,
    COUNT(CASE WHEN m.to_tier = 'C' THEN 1 END)                         AS to_c,
    COUNT(CASE WHEN m.to_tier = 'Exit' THEN 1 END)                      AS to_exit,
    COUNT(CASE WHEN m.to_tier <> m.from_tier THEN 1 END)                AS moved,
    COALESCE(SUM(CASE WHEN m.to_tier <> m.from_tier THEN f.revenue_12m END), 0) AS moved_revenue
FROM m
JOIN customer_facts AS f ON f.customer_id = m.customer_id
GROUP BY m.from_tier
ORDER BY CASE m.from_tier WHEN 'A' THEN 1 WHEN 'B' THEN 2 WHEN 'C' THEN 3 WHEN 'Exit' THEN 4 ELSE 5 END

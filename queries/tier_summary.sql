-- Value tiers at a glance: members and their share of customers, of revenue and of margin (both
-- over the twelve months to the period's end), ARR, the mean score, and each tier's promise.
WITH t AS (
    SELECT
        v.tier,
        COUNT(*)           AS members,
        SUM(f.revenue_12m) AS revenue,
        SUM(f.margin_12m)  AS margin,
        SUM(f.arr)         AS arr,
        AVG(v.total)       AS mean_score
    FROM value_tiers AS v
    JOIN customer_facts AS f ON f.customer_id = v.customer_id
    GROUP BY v.tier
)
SELECT
    t.tier,
    t.members,
    CAST(t.members AS DOUBLE) / SUM(t.members) OVER ()                                AS member_share,
    t.revenue,
    CAST(t.revenue AS DOUBLE) / NULLIF(CAST(SUM(t.revenue) OVER () AS DOUBLE), 0)    AS revenue_share,
    CAST(t.margin AS DOUBLE) / NULLIF(CAST(SUM(t.margin) OVER () AS DOUBLE), 0)      AS margin_share,
    t.arr,
    t.mean_score,
    s.promise,
    s.first_reply_hours,
    s.resolution_hours
FROM t
LEFT JOIN service_levels AS s ON s.tier = t.tier
ORDER BY COALESCE(s.position, 99), t.tier

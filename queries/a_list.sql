-- Tier A in full: the customers the value model ranks highest, with what they bring and how they
-- are served, largest twelve-month revenue first.
SELECT
    v.customer_id,
    f.name,
    f.company_size,
    f.industry,
    f.country,
    f.tenure_band,
    f.revenue_12m,
    f.margin_12m,
    f.arr,
    v.total AS score,
    v.reason
FROM value_tiers AS v
JOIN customer_facts AS f ON f.customer_id = v.customer_id
WHERE v.tier = 'A'
ORDER BY f.revenue_12m DESC, v.customer_id

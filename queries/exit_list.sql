-- The Exit tier: customers the value model places lowest on most criteria, with what they bring,
-- for a decision on a cheaper plan, self-service or exit. Largest twelve-month revenue first.
SELECT
    v.customer_id,
    f.name,
    f.company_size,
    f.country,
    f.tenure_band,
    f.revenue_12m,
    f.margin_12m,
    f.arr,
    f.last_order_at,
    v.total AS score,
    v.reason
FROM value_tiers AS v
JOIN customer_facts AS f ON f.customer_id = v.customer_id
WHERE v.tier = 'Exit'
ORDER BY f.revenue_12m DESC, v.customer_id

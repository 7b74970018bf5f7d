-- Every customer with an account manager (`customers.owner_id`), made once for all owners: its
-- value tier now and at the previous period's end ('New' when not scored then), and its value.
-- The owners' per-group queries read their own rows of it.
-- pareto: archive off
SELECT
    c.owner_id,
    f.customer_id,
    f.name,
    f.company_size,
    v.tier,
    COALESCE(p.tier, 'New')            AS tier_before,
    f.revenue_12m,
    f.current_mrr,
    CAST(f.last_order_at AS DATE)      AS last_order
FROM customers AS c
JOIN value_tiers AS v ON v.customer_id = c.customer_id
JOIN customer_facts AS f ON f.customer_id = c.customer_id
LEFT JOIN value_tiers__prev AS p ON p.customer_id = c.customer_id
WHERE c.owner_id IS NOT NULL

-- Customers who were in tier A at the previous period's end and are not now, most valuable first,
-- with why the model moved them and how their revenue changed.
SELECT
    c.customer_id,
    f.name,
    f.company_size,
    f.country,
    c.tier                      AS now_tier,
    COALESCE(c.reason, 'score fell below the A cut-off') AS reason,
    f.revenue_12m,
    fp.revenue_12m              AS prev_revenue_12m,
    CAST(f.revenue_12m - fp.revenue_12m AS DOUBLE) / NULLIF(CAST(fp.revenue_12m AS DOUBLE), 0) AS revenue_change
FROM value_tiers AS c
JOIN value_tiers__prev AS p ON p.customer_id = c.customer_id
JOIN customer_facts AS f ON f.customer_id = c.customer_id
JOIN customer_facts__prev AS fp ON fp.customer_id = c.customer_id
WHERE p.tier = 'A' AND c.tier <> 'A'
ORDER BY fp.revenue_12m DESC, c.customer_id

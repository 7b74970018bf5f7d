-- One account manager's accounts, most valuable first: tier now and at the previous period's end,
-- revenue over the twelve months to the period's end, MRR billed now, and the last order.
-- pareto: burst owner_id
SELECT
    name,
    tier,
    tier_before,
    company_size,
    revenue_12m,
    current_mrr     AS mrr,
    last_order
FROM owned_accounts
WHERE owner_id = $burst_key
ORDER BY revenue_12m DESC, customer_id

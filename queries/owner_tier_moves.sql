-- One account manager's accounts that changed value tier since the previous period's end (new
-- accounts included), most valuable first.
-- pareto: burst owner_id
SELECT
    name,
    tier_before,
    tier,
    revenue_12m,
    company_size
FROM owned_accounts
WHERE owner_id = $burst_key AND tier <> tier_before
ORDER BY revenue_12m DESC, customer_id

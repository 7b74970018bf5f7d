-- One account manager's A and B accounts now more likely gone than not (see owned_at_risk.sql),
-- most valuable first.
-- pareto: burst owner_id
SELECT
    name,
    tier,
    revenue_12m,
    last_order,
    chance_alive,
    predicted_value
FROM owned_at_risk
WHERE owner_id = $burst_key
ORDER BY revenue_12m DESC, customer_id

-- Each account manager's A and B accounts now more likely gone than not: a chance of still being
-- a customer (P(alive), from the [prediction] model) under $slipping_below at the period's end.
-- pareto: archive off
SELECT
    a.owner_id,
    a.customer_id,
    a.name,
    a.tier,
    a.revenue_12m,
    a.last_order,
    c.p_alive          AS chance_alive,
    c.predicted_clv    AS predicted_value
FROM owned_accounts AS a
JOIN clv AS c ON c.customer_id = a.customer_id
WHERE a.tier IN ('A', 'B') AND c.p_alive < $slipping_below

-- Valuable customers slipping away: in tier A or B, whose chance of still being a customer
-- (P(alive), from the [prediction] model) fell below $slipping_below this period, from at or above
-- it at the previous period's end. Most valuable first. In the BG/NBD model a customer can only
-- leave right after a purchase, so customers with a single purchase are never on this list.
SELECT
    c.customer_id,
    f.name,
    v.tier,
    f.company_size,
    f.revenue_12m,
    f.lifetime_revenue,
    CAST(f.last_order_at AS DATE)   AS last_order,
    p.p_alive                       AS chance_alive_before,
    c.p_alive                       AS chance_alive,
    c.predicted_clv                 AS predicted_value
FROM clv AS c
JOIN clv__prev AS p ON p.customer_id = c.customer_id
JOIN value_tiers AS v ON v.customer_id = c.customer_id
JOIN customer_facts AS f ON f.customer_id = c.customer_id
WHERE v.tier IN ('A', 'B') AND c.p_alive < $slipping_below AND p.p_alive >= $slipping_below
ORDER BY f.revenue_12m DESC, c.customer_id

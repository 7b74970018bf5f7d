-- Each customer's orders, summed as of the period's end, in one pass over orders (the largest
-- table, and where every customer-level figure starts): customer_facts reads it, and so does
-- customer_facts__prev, which derives the same sums as of the previous period's end from the few
-- extra windows below instead of a second pass. Windowed sums use FILTER, so a row outside a
-- window costs nothing.
--   lifetime_*, orders, first/last_order_at   orders before the period's end
--   *_12m                                     the 365 days to the period's end
--   period_*, prev_period_*                   this period, the period before
--   dropped_*                                 the orders that leave the twelve-month window when
--                                             it ends at the previous period's end instead
--                                             ([$period_start, $period_end) − 365 days)
--   prev_prev_period_*                        the period before the previous one
--   last_order_before                         the last order before the period's start
-- Margin counts orders whose cost is known.
-- Not archived: customer_facts (archived) holds every customer's sums, and at a million customers
-- this would add 37 MB a week to the archive.
-- pareto: archive off
SELECT
    customer_id,
    SUM(amount)                                                                              AS lifetime_revenue,
    SUM(amount - cost)                                                                       AS lifetime_margin,
    COUNT(*)                                                                                 AS orders,
    MIN(ordered_at)                                                                          AS first_order_at,
    MAX(ordered_at)                                                                          AS last_order_at,
    SUM(amount) FILTER (WHERE ordered_at >= $period_end - INTERVAL '365 days')               AS revenue_12m,
    SUM(amount - cost) FILTER (WHERE ordered_at >= $period_end - INTERVAL '365 days')        AS margin_12m,
    SUM(amount) FILTER (WHERE ordered_at >= $period_start)                                   AS period_revenue,
    SUM(amount - cost) FILTER (WHERE ordered_at >= $period_start)                            AS period_margin,
    COUNT(*) FILTER (WHERE ordered_at >= $period_start)                                      AS period_orders,
    SUM(amount) FILTER (WHERE ordered_at >= $prev_period_start AND ordered_at < $period_start) AS prev_period_revenue,
    COUNT(*) FILTER (WHERE ordered_at >= $prev_period_start AND ordered_at < $period_start)    AS prev_period_orders,
    SUM(amount) FILTER (WHERE ordered_at >= $period_start - INTERVAL '365 days'
                          AND ordered_at < $period_end - INTERVAL '365 days')                AS dropped_revenue_12m,
    SUM(amount - cost) FILTER (WHERE ordered_at >= $period_start - INTERVAL '365 days'
                                 AND ordered_at < $period_end - INTERVAL '365 days')         AS dropped_margin_12m,
    SUM(amount) FILTER (WHERE ordered_at >= $prev_prev_period_start AND ordered_at < $prev_period_start)
                                                                                             AS prev_prev_period_revenue,
    COUNT(*) FILTER (WHERE ordered_at >= $prev_prev_period_start AND ordered_at < $prev_period_start)
                                                                                             AS prev_prev_period_orders,
    MAX(CASE WHEN ordered_at < $period_start THEN ordered_at END)                            AS last_order_before
FROM orders
WHERE ordered_at < $period_end
GROUP BY customer_id

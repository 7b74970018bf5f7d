-- One account manager's accounts by value tier (the group's `$burst_key`): how many, their revenue
-- over the twelve months to the period's end and its share, and the MRR billed now.
-- pareto: burst owner_id
-- pareto: format revenue_share=percent
SELECT
    tier,
    COUNT(*)                                                   AS accounts,
    SUM(revenue_12m)                                           AS revenue_12m,
    CAST(SUM(revenue_12m) AS DOUBLE) / NULLIF(SUM(SUM(revenue_12m)) OVER (), 0) AS revenue_share,
    SUM(current_mrr)                                           AS mrr
FROM owned_accounts
WHERE owner_id = $burst_key
GROUP BY tier
ORDER BY CASE tier WHEN 'A' THEN 1 WHEN 'B' THEN 2 WHEN 'C' THEN 3 WHEN 'Exit' THEN 4 ELSE 5 END

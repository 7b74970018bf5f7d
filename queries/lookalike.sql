-- What the best customers have in common: for each region, industry, company size and age band,
-- the share of A-tier customers in it against the share of all customers in it. A lift above 1
-- means A customers are over-represented there.
WITH b AS (
    SELECT f.region, f.industry, f.company_size, f.age_band, v.tier
    FROM customer_facts AS f
    JOIN value_tiers AS v ON v.customer_id = f.customer_id
),
cuts AS (
    SELECT
        d.dimension,
        d.position,
        CASE d.dimension
            WHEN 'region'       THEN b.region
            WHEN 'industry'     THEN b.industry
            WHEN 'company_size' THEN b.company_size
            WHEN 'age_band'     THEN b.age_band
        END AS segment,
        b.tier
    FROM b
    CROSS JOIN (VALUES ('company_size', 1), ('industry', 2), ('region', 3), ('age_band', 4)) AS d(dimension, position)
),
counts AS (
    SELECT
        dimension,
        MIN(position)                          AS position,
        segment,
        COUNT(CASE WHEN tier = 'A' THEN 1 END) AS a_customers,
        COUNT(*)                               AS customers
    FROM cuts
    GROUP BY dimension, segment
),
shares AS (
    SELECT
        *,
        CAST(a_customers AS DOUBLE) / NULLIF(SUM(a_customers) OVER (PARTITION BY dimension), 0) AS a_share,
        CAST(customers AS DOUBLE) / SUM(customers) OVER (PARTITION BY dimension)                AS all_share
    FROM counts
)
SELECT dimension, segment, a_customers, customers, a_share, all_share, a_share / all_share AS lift
FROM shares
ORDER BY position, lift DESC, segment

-- Tickets created per day for the 29 days to the period's end (days with none count 0), for all
-- customers and per value tier and tenure band: the series a spike alert compares the last day
-- against. Days are in UTC.
WITH days AS (
    -- Dates as day numbers: the period's end date minus 1 … 29 days.
    SELECT arrow_cast(arrow_cast($period_end_date, 'Int32') - CAST(value AS INT), 'Date32') AS day
    FROM generate_series(1, 29)
),
t AS (
    SELECT
        CAST(date_trunc('day', tk.created_at) AS DATE) AS day,
        COALESCE(v.tier, 'Unknown')                    AS value_tier,
        COALESCE(f.tenure_band, 'Unknown')             AS tenure_band
    FROM tickets AS tk
    LEFT JOIN value_tiers AS v ON v.customer_id = tk.customer_id
    LEFT JOIN customer_facts AS f ON f.customer_id = tk.customer_id
    WHERE tk.created_at >= $period_end - INTERVAL '29 days' AND tk.created_at < $period_end
),
cuts AS (
    SELECT day, 'All' AS dimension, 'All' AS segment FROM t
    UNION ALL SELECT day, 'value_tier', value_tier FROM t
    UNION ALL SELECT day, 'tenure', tenure_band FROM t
),
segments AS (SELECT DISTINCT dimension, segment FROM cuts)
SELECT d.day, s.dimension, s.segment, COUNT(c.day) AS tickets
FROM days AS d
CROSS JOIN segments AS s
LEFT JOIN cuts AS c ON c.day = d.day AND c.dimension = s.dimension AND c.segment = s.segment
GROUP BY d.day, s.dimension, s.segment
ORDER BY s.dimension, s.segment, d.day

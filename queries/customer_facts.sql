-- One row per customer, tagged with its segments as of $as_of.
-- Company-size thresholds are job parameters (size_smb, size_mid, size_enterprise).
SELECT
    c.customer_id,
    c.name,
    c.country,
    c.region,
    c.industry,
    c.signup_date,
    CASE
        WHEN c.employees IS NULL THEN 'Unknown'
        WHEN c.employees < $size_smb THEN 'Solo'
        WHEN c.employees < $size_mid THEN 'SMB'
        WHEN c.employees < $size_enterprise THEN 'Mid-market'
        ELSE 'Enterprise'
    END AS company_size
FROM customers AS c
WHERE c.signup_date < $as_of_date + INTERVAL '1 day'

-- One row per customer who had signed up by the end of the period, with the tags that put them in
-- segments, as of the period's end. customer_facts adds their value; queries that need only the
-- tags (revenue_movements) read this instead, and need not wait for the pass over orders.
--   company_size  from employees; thresholds are job params size_smb, size_mid, size_enterprise
--   tenure_band   Trial (< 14 days), First90 (< 90), FirstYear (< 365), Veteran
--   age_band      from birth_year where present, else Unknown
-- Not archived: customer_facts (archived) holds every column of it.
-- pareto: archive off
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
    END                                                         AS company_size,
    $period_end_date - c.signup_date                            AS tenure_days,
    CASE
        WHEN $period_end_date - c.signup_date < 14 THEN 'Trial'
        WHEN $period_end_date - c.signup_date < 90 THEN 'First90'
        WHEN $period_end_date - c.signup_date < 365 THEN 'FirstYear'
        ELSE 'Veteran'
    END                                                         AS tenure_band,
    CASE
        WHEN c.birth_year IS NULL THEN 'Unknown'
        WHEN date_part('year', $period_end_date) - c.birth_year < 30 THEN 'Under 30'
        WHEN date_part('year', $period_end_date) - c.birth_year < 45 THEN '30-44'
        WHEN date_part('year', $period_end_date) - c.birth_year < 60 THEN '45-59'
        ELSE '60 and over'
    END                                                         AS age_band,
    COALESCE(c.strategic, false)                                AS strategic
FROM customers AS c
WHERE c.signup_date < $period_end_date

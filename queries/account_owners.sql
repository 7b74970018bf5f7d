-- The account managers the weekly-account-owners job writes to (its `[burst] query`): one row per
-- owner in the `owners` table, with the address their report goes to and how many accounts they
-- look after at the period's end. An owner with no accounts gets no report unless the job says
-- `[burst] empty = "send"`; an owner without an address is reported to the job's owners.
SELECT
    o.owner_id,
    o.name,
    o.email,
    COUNT(c.customer_id) AS accounts
FROM owners AS o
LEFT JOIN customers AS c ON c.owner_id = o.owner_id AND c.signup_date < $period_end_date
GROUP BY o.owner_id, o.name, o.email
ORDER BY o.owner_id

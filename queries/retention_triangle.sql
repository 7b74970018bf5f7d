-- The cohort retention triangle: one row per signup month, one column per month since signup
-- (m0 = the signup month), each the share of the cohort active that month.
SELECT
    cohort,
    MAX(cohort_customers) AS customers,
    MAX(CASE WHEN months_since = 0 THEN retention END)  AS m0,
    MAX(CASE WHEN months_since = 1 THEN retention END)  AS m1,
    MAX(CASE WHEN months_since = 2 THEN retention END)  AS m2,
    MAX(CASE WHEN months_since = 3 THEN retention END)  AS m3,
    MAX(CASE WHEN months_since = 4 THEN retention END)  AS m4,
    MAX(CASE WHEN months_since = 5 THEN retention END)  AS m5,
    MAX(CASE WHEN months_since = 6 THEN retention END)  AS m6,
    MAX(CASE WHEN months_since = 7 THEN retention END)  AS m7,
    MAX(CASE WHEN months_since = 8 THEN retention END)  AS m8,
    MAX(CASE WHEN months_since = 9 THEN retention END)  AS m9,
    MAX(CASE WHEN months_since = 10 THEN retention END) AS m10,
    MAX(CASE WHEN months_since = 11 THEN retention END) AS m11
FROM retention_cohorts
GROUP BY cohort
ORDER BY cohort

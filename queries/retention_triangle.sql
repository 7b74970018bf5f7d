-- The cohort retention triangle: one row per signup month, one column per month since signup
-- (m0 = the signup month), each the share of the cohort active that month.
-- pareto: format customers=count m0=percent:0 m1=percent:0 m2=percent:0 m3=percent:0 m4=percent:0 m5=percent:0
-- pareto: format m6=percent:0 m7=percent:0 m8=percent:0 m9=percent:0 m10=percent:0 m11=percent:0
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

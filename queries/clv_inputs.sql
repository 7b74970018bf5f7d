-- Each customer's purchases, summarised for the [prediction] model (BG/NBD and Gamma-Gamma) as of
-- the period's end, in the model's time unit ($prediction_unit_days days: a week unless the job
-- says otherwise):
--   frequency       repeat purchases: the days with an order, less the first
--   recency         from the first purchase day to the last, in units
--   t               from the first purchase day to the period's last day, in units (the
--                   customer's age in the model; 0 for a customer who first bought that day)
--   monetary_value  the average value of a repeat purchase day (0 without one)
-- Orders on one day are one purchase and their amounts add up, as in Fader, Hardie & Lee (2005).
-- Days are UTC dates. The prev_* columns are the same figures as of the previous period's end:
-- clv_inputs__prev reads them, so the previous period needs no second pass over orders (null for
-- customers whose first order came in this period). A day counts for the previous period if it
-- had an order before this period began (the one day that straddles the start, in a job not on
-- UTC, counts whole).
-- One pass over orders, grouped by customer: count_distinct counts the days and sum_at_min sums
-- the first day's amounts, so no grouping by (customer, day) comes first.
-- Not archived: clv (archived) holds these columns beside the predictions.
-- pareto: archive off
WITH o AS (
    SELECT customer_id, CAST(ordered_at AS DATE) AS day, ordered_at, amount
    FROM orders
    WHERE ordered_at < $period_end
),
per AS (
    SELECT
        customer_id,
        count_distinct(day)                                                      AS days,
        MIN(day)                                                                 AS first_day,
        MAX(day)                                                                 AS last_day,
        SUM(amount)                                                              AS amount,
        -- the first day with an amount (a day whose amounts are all NULL has no value to give)
        sum_at_min(amount, CASE WHEN amount IS NOT NULL THEN day END)            AS first_amount,
        -- before the period began
        MAX(day) FILTER (WHERE ordered_at < $period_start)                       AS prev_last_day,
        SUM(amount) FILTER (WHERE ordered_at < $period_start)                    AS prev_amount_before,
        -- in the period: its days, and the first of them with its amounts (the straddling day,
        -- where it is also the last day before)
        count_distinct(day) FILTER (WHERE ordered_at >= $period_start)           AS period_days,
        MIN(day) FILTER (WHERE ordered_at >= $period_start)                      AS period_first_day,
        sum_at_min(amount, day) FILTER (WHERE ordered_at >= $period_start)       AS period_first_amount
    FROM o
    GROUP BY customer_id
),
prev AS (
    SELECT
        *,
        -- the days before the period, the straddling day counted once
        days - period_days + CASE WHEN period_first_day = prev_last_day THEN 1 ELSE 0 END AS prev_days,
        -- their amounts, the straddling day's whole (NULL, as SUM gives, when none has one)
        CASE WHEN period_first_day = prev_last_day AND period_first_amount IS NOT NULL
             THEN COALESCE(prev_amount_before, 0) + period_first_amount
             ELSE prev_amount_before END                                         AS prev_amount
    FROM per
)
SELECT
    customer_id,
    days - 1                                                                        AS frequency,
    CAST(last_day - first_day AS DOUBLE) / $prediction_unit_days                    AS recency,
    CAST($period_end_date - first_day - 1 AS DOUBLE) / $prediction_unit_days       AS t,
    CASE WHEN days > 1 THEN CAST(amount - first_amount AS DOUBLE) / (days - 1) ELSE 0 END
                                                                                    AS monetary_value,
    CASE WHEN prev_days > 0 THEN prev_days - 1 END                                  AS prev_frequency,
    CASE WHEN prev_days > 0 THEN CAST(prev_last_day - first_day AS DOUBLE) / $prediction_unit_days END
                                                                                    AS prev_recency,
    CASE WHEN prev_days > 0 THEN CAST($period_start_date - first_day - 1 AS DOUBLE) / $prediction_unit_days END
                                                                                    AS prev_t,
    CASE WHEN prev_days > 1 THEN CAST(prev_amount - first_amount AS DOUBLE) / (prev_days - 1)
         WHEN prev_days = 1 THEN 0 END                                              AS prev_monetary_value
FROM prev

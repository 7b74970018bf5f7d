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
-- customers whose first order came in this period).
-- Not archived: clv (archived) holds these columns beside the predictions.
-- pareto: archive off
WITH days AS (
    SELECT
        customer_id,
        CAST(ordered_at AS DATE)                                  AS day,
        SUM(amount)                                               AS amount,
        -- A day counts for the previous period if its first order came before this period
        -- began (the one day that straddles the start, in a job not on UTC, counts whole).
        MIN(ordered_at) < $period_start                           AS in_prev
    FROM orders
    WHERE ordered_at < $period_end
    GROUP BY customer_id, CAST(ordered_at AS DATE)
),
per AS (
    SELECT
        customer_id,
        COUNT(*)                                  AS days,
        MIN(day)                                  AS first_day,
        MAX(day)                                  AS last_day,
        SUM(amount)                               AS amount,
        min_by(amount, day)                       AS first_amount,
        COUNT(*) FILTER (WHERE in_prev)           AS prev_days,
        MAX(day) FILTER (WHERE in_prev)           AS prev_last_day,
        SUM(amount) FILTER (WHERE in_prev)        AS prev_amount
    FROM days
    GROUP BY customer_id
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
FROM per

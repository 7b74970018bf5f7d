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
-- The sums come from customer_orders and purchase_days (its days and first days), each one pass
-- over orders; a date is the day of its timestamp, so the first and last days are those of the
-- first and last orders.
-- Not archived: clv (archived) holds these columns beside the predictions.
-- pareto: archive off
WITH per AS (
    SELECT
        o.customer_id,
        d.order_days                                                             AS days,
        CAST(o.first_order_at AS DATE)                                           AS first_day,
        CAST(o.last_order_at AS DATE)                                            AS last_day,
        o.lifetime_revenue                                                       AS amount,
        d.first_day_revenue                                                      AS first_amount,
        -- before the period began
        CAST(o.last_order_before AS DATE)                                        AS prev_last_day,
        d.revenue_before_period                                                  AS prev_amount_before,
        -- in the period: its days, and the first of them with its amounts (the straddling day,
        -- where it is also the last day before)
        d.period_order_days                                                      AS period_days,
        d.period_first_day,
        d.period_first_day_revenue                                               AS period_first_amount
    FROM customer_orders AS o
    JOIN purchase_days AS d ON d.customer_id IS NOT DISTINCT FROM o.customer_id
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

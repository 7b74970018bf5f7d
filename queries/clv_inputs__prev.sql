-- clv_inputs as of the previous period's end, from the prev_* columns clv_inputs computes in the
-- same pass over orders.
-- pareto: archive off
SELECT
    customer_id,
    prev_frequency       AS frequency,
    prev_recency         AS recency,
    prev_t               AS t,
    prev_monetary_value  AS monetary_value
FROM clv_inputs
WHERE prev_frequency IS NOT NULL

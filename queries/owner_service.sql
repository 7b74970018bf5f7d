-- One account manager's accounts' support in the period, per tier, against the tier's service
-- level (see owned_service.sql for the measures).
-- pareto: burst owner_id
-- pareto: format csat=percent csat_responses=count first_reply_median_h=number:1 first_reply_target_h=number:0 resolution_target_h=number:0
SELECT
    tier,
    tickets,
    first_reply_median_h,
    first_reply_target_h,
    first_reply_met,
    resolution_target_h,
    resolution_met,
    escalation_rate,
    csat_responses,
    csat
FROM owned_service
WHERE owner_id = $burst_key
ORDER BY position, tier

"""An independent computation, in plain Python, of the support KPIs for All and per value tier
from raw rows exported by `pareto query` (tickets, csat, nps, and each customer's tier).

Usage: support_check.py DIR PERIOD_START PERIOD_END PREV_START   (UTC, ISO, end exclusive)
"""
import csv
import json
import sys
from datetime import datetime, timezone


def ts(s):
    if not s:
        return None
    return datetime.fromisoformat(s.replace("Z", "+00:00")).astimezone(timezone.utc).replace(tzinfo=None)


folder, start, end, prev = sys.argv[1], *(datetime.fromisoformat(a) for a in sys.argv[2:5])
read = lambda name: list(csv.DictReader(open(f"{folder}/{name}.csv")))
tier = {int(r["customer_id"]): r["tier"] for r in read("tiers")}
seg = lambda cid: tier.get(cid, "Unknown")


def percentile(values, p):
    """Linear interpolation between closest ranks, as percentile_cont."""
    xs = sorted(values)
    if not xs:
        return None
    pos = (len(xs) - 1) * p
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


mean = lambda xs: sum(xs) / len(xs) if xs else None
hours = lambda a, b: (a - b).total_seconds() / 3600

tickets = [dict(r, customer_id=int(r["customer_id"]), created=ts(r["created_at"]), reply=ts(r["first_reply_at"]),
                solved=ts(r["solved_at"])) for r in read("tickets")]
ratings = [dict(r, customer_id=int(r["customer_id"]), at=ts(r["rated_at"]), score=int(r["score"])) for r in read("csat")]
answers = [dict(r, customer_id=int(r["customer_id"]), at=ts(r["responded_at"]), score=int(r["score"])) for r in read("nps")]

# The segments pareto reports: the tiers of customers, and any other segment (Unknown) that has a
# ticket, rating or response in the two periods.
in_window = lambda t: t["created"] < end and (t["created"] >= prev or (t["solved"] is not None and t["solved"] >= prev))
segments = {"All"} | set(tier.values()) | {seg(t["customer_id"]) for t in tickets if in_window(t)} \
    | {seg(r["customer_id"]) for r in ratings if prev <= r["at"] < end} | {seg(a["customer_id"]) for a in answers if prev <= a["at"] < end}
out = {}
for s in sorted(segments):
    mine = lambda cid: s == "All" or seg(cid) == s
    created = [t for t in tickets if mine(t["customer_id"]) and start <= t["created"] < end]
    prev_created = [t for t in tickets if mine(t["customer_id"]) and prev <= t["created"] < start]
    solved = [t for t in tickets if mine(t["customer_id"]) and t["solved"] and start <= t["solved"] < end and t["solved"] >= t["created"]]
    replies = [hours(t["reply"], t["created"]) for t in created if t["reply"]]
    rated = [r["score"] for r in ratings if mine(r["customer_id"]) and start <= r["at"] < end]
    scored = [a["score"] for a in answers if mine(a["customer_id"]) and start <= a["at"] < end]
    sentiments = [float(t["sentiment"]) for t in created if t["sentiment"]]
    out[s] = {
        "tickets": len(created),
        "prev_tickets": len(prev_created),
        "first_reply_median_h": percentile(replies, 0.5),
        "first_reply_p90_h": percentile(replies, 0.9),
        "unanswered": sum(1 for t in created if not t["reply"]),
        "resolution_median_h": percentile([hours(t["solved"], t["created"]) for t in solved], 0.5),
        "resolution_p90_h": percentile([hours(t["solved"], t["created"]) for t in solved], 0.9),
        "touches": mean([int(t["agent_replies"]) for t in solved]),
        "reopen_rate": mean([1.0 if int(t["reopens"]) > 0 else 0.0 for t in solved]),
        "escalation_rate": mean([1.0 if t["escalated"] == "true" else 0.0 for t in created]),
        "csat_responses": len(rated),
        "csat": mean([1.0 if x >= 4 else 0.0 for x in rated]),
        "nps_responses": len(scored),
        "nps": 100 * mean([1.0 if x >= 9 else -1.0 if x <= 6 else 0.0 for x in scored]) if scored else None,
        "sentiment": mean(sentiments),
    }
print(json.dumps(out))

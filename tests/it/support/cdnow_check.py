"""An independent computation, in plain Python with exact decimals, of the value figures pareto's
bundled queries compute, from the CDNOW transaction log itself (not from the lake pareto reads).

Usage: cdnow_check.py CDNOW_master.txt PERIOD_START PERIOD_END   (dates, end exclusive)
Prints JSON. Definitions follow README/queries: the lake holds each purchase at 12:00 UTC on its
date; a customer's signup date is their first purchase; "as of" is the period's end.
"""
import datetime as dt
import json
import math
import sys
from collections import defaultdict
from decimal import Decimal

path, start, end = sys.argv[1], dt.date.fromisoformat(sys.argv[2]), dt.date.fromisoformat(sys.argv[3])
prev_start = start - (end - start)

orders = []  # (customer, date, amount)
with open(path) as f:
    next(f)
    for line in f:
        cid, day, _cds, amount = line.split()
        orders.append((int(cid), dt.datetime.strptime(day, "%Y%m%d").date(), Decimal(amount)))

signup = {}
for cid, day, _ in orders:
    signup[cid] = min(signup.get(cid, day), day)
customers = sorted(c for c, d in signup.items() if d < end)

lifetime = defaultdict(Decimal)
period = defaultdict(Decimal)
period_orders = defaultdict(int)
prev = defaultdict(Decimal)
for cid, day, amount in orders:
    if day < end:
        lifetime[cid] += amount
    if start <= day < end:
        period[cid] += amount
        period_orders[cid] += 1
    if prev_start <= day < start:
        prev[cid] += amount


def concentration(values):
    xs = {c: v for c, v in values.items() if v > 0}
    n = len(xs)
    total = sum(xs.values())
    desc = sorted(xs.items(), key=lambda kv: (-kv[1], kv[0]))
    k = math.ceil(n / 5)
    top = sum(v for _, v in desc[:k])
    cum, to80 = Decimal(0), None
    for i, (_, v) in enumerate(desc, 1):
        cum += v
        if cum * 5 >= total * 4:
            to80 = i
            break
    asc = sorted(xs.values())
    gini = 2 * sum(i * float(v) for i, v in enumerate(asc, 1)) / (n * float(total)) - (n + 1) / n
    return {"customers": n, "revenue": f"{total:.2f}", "top20_customers": k, "top20_share": float(top) / float(total),
            "customers_to_80": to80, "share_to_80": to80 / n, "gini": gini}


def band(days):
    return "Trial" if days < 14 else "First90" if days < 90 else "FirstYear" if days < 365 else "Veteran"


tenure = defaultdict(lambda: {"customers": 0, "revenue": Decimal(0), "orders": 0, "lifetime": Decimal(0), "prev": Decimal(0)})
for c in customers:
    t = tenure[band((end - signup[c]).days)]
    t["customers"] += 1
    t["revenue"] += period[c]
    t["orders"] += period_orders[c]
    t["lifetime"] += lifetime[c]
    t["prev"] += prev[c]
period_total = sum(period.values())
segments = {
    b: {"customers": t["customers"], "revenue": f"{t['revenue']:.2f}",
        "revenue_share": float(t["revenue"]) / float(period_total) if period_total else None,
        "aov": float(t["revenue"]) / t["orders"] if t["orders"] else None,
        "ltv": float(t["lifetime"]) / t["customers"], "prev_revenue": f"{t['prev']:.2f}"}
    for b, t in tenure.items()
}

# Retention: signup-month cohorts of the last twelve months, active = ordered in that month.
last_day = end - dt.timedelta(days=1)
last_month = dt.date(last_day.year, last_day.month, 1)
first_cohort = dt.date(last_month.year - (1 if last_month.month <= 11 else 0), (last_month.month - 12) % 12 + 1, 1)
month = lambda d: dt.date(d.year, d.month, 1)
cohorts = defaultdict(set)
for c in customers:
    if signup[c] >= first_cohort:
        cohorts[month(signup[c])].add(c)
active = defaultdict(set)
for cid, day, _ in orders:
    if day < end:
        active[(cid)].add(month(day))
retention = []
for cohort, members in sorted(cohorts.items()):
    counts = defaultdict(int)
    for c in members:
        for m in active[c]:
            if m >= cohort:
                counts[(m.year - cohort.year) * 12 + m.month - cohort.month] += 1
    for since, k in sorted(counts.items()):
        retention.append({"cohort": cohort.isoformat(), "months_since": since, "cohort_customers": len(members),
                          "active_customers": k, "retention": k / len(members)})

print(json.dumps({
    "pareto": {"lifetime": concentration(lifetime), "period": concentration(period)},
    "tenure": segments,
    "headline": {"revenue": f"{period_total:.2f}", "orders": sum(period_orders.values()),
                 "prev_revenue": f"{sum(prev.values()):.2f}",
                 "new_customers": sum(1 for c in customers if start <= signup[c] < end)},
    "retention": retention,
}))

"""The independent check of pareto's [prediction] model on the CDNOW 1/10 sample (2,357 customers),
with the `lifetimes` package (Davidson-Pilon; its BG/NBD and Gamma-Gamma code follows Fader,
Hardie & Lee), from the raw transaction file, not from the lake pareto reads.

Usage: clv_check.py CDNOW_sample.txt PARETO_CLV.json CALIBRATION_END HORIZON_WEEKS
  PARETO_CLV.json: {"fit": {r, alpha, a, b, p, q, gamma}, ...} as pareto archived it.
Prints JSON:
  summary    per customer id: frequency, recency, T (weeks), monetary_value, as lifetimes computes
             them from the log (days as periods, weeks = days / 7)
  bgnbd, gg  lifetimes' own maximum-likelihood fits
  at_pareto  per customer id: P(alive), expected purchases over the horizon and expected average
             purchase value, from lifetimes' formulas at pareto's fitted parameters
  holdout    the HORIZON_WEEKS after the calibration: repeat purchases (purchase days) made, and
             the sum of expected purchases at pareto's parameters
"""
import json
import sys
import warnings

import pandas as pd
from lifetimes import BetaGeoFitter, GammaGammaFitter
from lifetimes.utils import summary_data_from_transaction_data

warnings.filterwarnings("ignore")
path, pareto_path, end, horizon = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
pareto = json.load(open(pareto_path))["fit"]

log = pd.read_csv(path, sep=r"\s+", header=None, names=["id", "sample_id", "date", "cds", "amount"], dtype={"date": str})
log["date"] = pd.to_datetime(log["date"])
end_day = pd.Timestamp(end) - pd.Timedelta(days=1)  # the calibration's last day
calib = log[log["date"] <= end_day]
s = summary_data_from_transaction_data(calib, "id", "date", monetary_value_col="amount", observation_period_end=end_day, freq="D")
s["recency"] = s["recency"] / 7
s["T"] = s["T"] / 7

bg = BetaGeoFitter()
bg.fit(s["frequency"], s["recency"], s["T"])
repeat = s[s["frequency"] > 0]
gg = GammaGammaFitter()
gg.fit(repeat["frequency"], repeat["monetary_value"])

at = BetaGeoFitter()
at.params_ = pd.Series({k: pareto[k] for k in ["r", "alpha", "a", "b"]})
at_gg = GammaGammaFitter()
at_gg.params_ = pd.Series({"p": pareto["p"], "q": pareto["q"], "v": pareto["gamma"]})
alive = at.conditional_probability_alive(s["frequency"], s["recency"], s["T"])
expected = at.conditional_expected_number_of_purchases_up_to_time(horizon, s["frequency"], s["recency"], s["T"])
value = at_gg.conditional_expected_average_profit(s["frequency"], s["monetary_value"])

# The hold-out: purchase days in the HORIZON_WEEKS after the calibration's end.
after = log[(log["date"] > end_day) & (log["date"] <= end_day + pd.Timedelta(days=round(horizon * 7)))]
made = after.groupby("id")["date"].nunique()

out = {
    "summary": {
        str(i): {"frequency": float(r["frequency"]), "recency": float(r["recency"]), "t": float(r["T"]), "monetary_value": float(r["monetary_value"])}
        for i, r in s.iterrows()
    },
    "bgnbd": {k: float(v) for k, v in bg.params_.items()},
    "gg": {("gamma" if k == "v" else k): float(v) for k, v in gg.params_.items()},
    "at_pareto": {
        str(i): {"p_alive": float(alive[n]), "expected_purchases": float(expected.iloc[n]), "expected_aov": float(value.iloc[n])}
        for n, i in enumerate(s.index)
    },
    "holdout": {"actual": int(made.sum()), "expected": float(expected.sum()), "customers": int(len(s))},
}
json.dump(out, sys.stdout)

//! The `[scoring]` declaration: its checks, group scoring and pins, and invariants of the bundled
//! model and query library on the larger demo lake.

use crate::support::{TestProject, lake};
use serde_json::{Value, json};

const JOB: &str = r#"name = "groups"
schedule = "0 7 * * MON"
timezone = "Europe/Amsterdam"
period = "week"
queries = ["facts"]
template = "t"
subject = "x"
to = ["a@example.com"]

[params]
size_smb = 10
size_mid = 100
size_enterprise = 1000
"#;

fn project(scoring: &str) -> TestProject {
    let p = TestProject::bundled();
    lake::write(&p.root);
    std::fs::remove_file(p.path("jobs/weekly-leadership.toml")).unwrap();
    p.file("jobs/groups.toml", &format!("{JOB}\n{scoring}"));
    p.file("queries/facts.sql", "SELECT * FROM value_tiers ORDER BY 1\n");
    p.file("templates/t.html.hbs", "{{table results.facts}}\n");
    p.file("templates/t.txt.hbs", "{{table results.facts}}\n");
    p
}

#[test]
fn scoring_groups_with_pins() {
    // One criterion over industries (one customer each on the hand-made lake): Healthcare 49.50,
    // Software 180.00, Retail 270.50, Finance 1000.00 → quartile categories 1, 2, 3, 4. Healthcare
    // is category 1 on every criterion → Exit. Of the other three, the top two by rank
    // (⌊(pos−1)·2/3⌋ = 0) are Top; Software is pinned to Top anyway.
    let p = project(
        r#"[scoring]
per = "industry"
tiers = ["Top", "Rest"]
pin = { Software = "Top" }

[[scoring.criteria]]
name = "revenue"
expr = "SUM(revenue_12m)"
quantiles = 4
"#,
    );
    p.run(&["run", "groups", "--as-of", "2026-11-23", "--dry-run"]).expect(0);
    let v = p.result("archive/groups/2026-W47.preview/results", "facts");
    let got: Vec<Value> = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| json!([r["industry"], r["revenue"], r["revenue_category"], r["tier"], r["reason"]]))
        .collect();
    assert_eq!(
        got,
        vec![
            json!(["Finance", "1000.00", 4, "Top", null]),
            json!(["Healthcare", "49.50", 1, "Exit", null]),
            json!(["Retail", "270.50", 3, "Top", null]),
            json!(["Software", "180.00", 2, "Top", "pinned to Top"]),
        ]
    );
}

#[test]
fn lower_is_better_and_three_quantiles() {
    // Whole days since the last order, lower is better, in three quantiles: ranked from the most
    // days (least favourable), category = 1 + ⌊3 · percent_rank⌋ capped at 3: Umbrella 7 days → 1,
    // Acme 6 → 1 + ⌊1⌋ = 2, Globex 5 → 1 + ⌊2⌋ = 3, Initech 0 → 3. One criterion at category 1 is
    // Exit (Umbrella); a single tier takes the rest.
    let p = project(
        r#"[scoring]
tiers = ["A"]

[[scoring.criteria]]
name = "recency"
expr = "date_part('day', TIMESTAMP '2026-11-23 00:00:00' - last_order_at)"
quantiles = 3
lower_is_better = true
"#,
    );
    p.run(&["run", "groups", "--as-of", "2026-11-23", "--dry-run"]).expect(0);
    let v = p.result("archive/groups/2026-W47.preview/results", "facts");
    let got: Vec<Value> =
        v["rows"].as_array().unwrap().iter().map(|r| json!([r["customer_id"], r["recency"], r["recency_category"], r["tier"]])).collect();
    assert_eq!(got, vec![json!([1, 6, 2, "A"]), json!([2, 5, 3, "A"]), json!([3, 0, 3, "A"]), json!([4, 7, 1, "Exit"])]);
}

#[test]
fn a_bad_scoring_declaration_lists_every_problem() {
    let p = project(
        r#"[scoring]
tiers = ["A", "B", "Exit"]
exit_tolerance = 2
pin = { 1042 = "Z" }

[scoring.refine]
D = { min_each = 3 }

[[scoring.criteria]]
name = "revenue"
expr = "revenue_12m"
quantiles = 5

[[scoring.criteria]]
name = "revenue"
expr = "margin_12m"
thresholds = [10, 5]
"#,
    );
    let out = p.run(&["check", "groups"]);
    out.expect(2);
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(
        lines,
        vec![
            "error: jobs/groups.toml:15:1: `scoring.tiers`: `Exit` is added by the model itself (customers scoring lowest on every criterion); leave it out",
            "error: jobs/groups.toml:23:1: criterion `revenue`: `quantiles = 5`: use 3 or 4 categories",
            "error: jobs/groups.toml:28:1: criterion `revenue`: the name is already used; pick another",
            "error: jobs/groups.toml:28:1: criterion `revenue`: `thresholds` must be 2 or 3 ascending numbers (3 or 4 categories)",
            "error: jobs/groups.toml:15:1: `scoring.exit_tolerance = 2` must be less than the number of criteria (2); 0 puts in Exit only those lowest on every criterion",
            "error: jobs/groups.toml:15:1: `scoring.refine.D`: `D` is not one of the tiers (A, B, Exit)",
            "error: jobs/groups.toml:15:1: `scoring.pin`: `1042 = \"Z\"` names no tier (A, B, Exit, Exit)",
        ],
        "{}",
        out.stderr
    );
}

/// Invariants of the whole library on the generated demo lake.
#[test]
fn invariants_on_the_demo_lake() {
    let p = TestProject::bundled();
    p.run(&["generate", "--out", "lake", "--customers", "1500", "--seed", "11", "--until", "2026-11-23"]).expect(0);
    p.run(&["run", "weekly-leadership", "--as-of", "2026-11-23", "--dry-run"]).expect(0);
    let rows = |q: &str| -> Vec<Value> {
        let v = p.result("archive/weekly-leadership/2026-W47.preview/results", q);
        v["rows"].as_array().unwrap().clone()
    };
    let f = |v: &Value| v.as_f64().or_else(|| v.as_str().and_then(|s| s.parse().ok())).unwrap_or(0.0);
    let cents = |v: &Value| -> i64 {
        let s = v.as_str().unwrap_or_else(|| panic!("decimal as string: {v}"));
        let (i, d) = s.split_once('.').unwrap();
        let sign = if i.starts_with('-') { -1 } else { 1 };
        i.parse::<i64>().unwrap() * 100 + sign * d.parse::<i64>().unwrap()
    };

    // Shares within each dimension, and over tiers, sum to 1.
    let sv = rows("segment_value");
    for d in ["value_tier", "company_size", "tenure", "region", "industry"] {
        let total: f64 = sv.iter().filter(|r| r["dimension"] == d).map(|r| f(&r["revenue_share"])).sum();
        assert!((total - 1.0).abs() < 1e-9, "{d}: {total}");
    }
    let ts = rows("tier_summary");
    for col in ["member_share", "revenue_share", "margin_share"] {
        let total: f64 = ts.iter().map(|r| f(&r[col])).sum();
        assert!((total - 1.0).abs() < 1e-9, "{col}: {total}");
    }

    // Movements reconcile exactly, and each month starts where the last ended.
    let mv = rows("revenue_movements");
    assert!(mv.len() >= 12 * 2);
    for r in &mv {
        let lhs = cents(&r["start_mrr"]) + cents(&r["new_mrr"]) + cents(&r["reactivation_mrr"]) + cents(&r["expansion_mrr"])
            - cents(&r["contraction_mrr"])
            - cents(&r["churned_mrr"]);
        assert_eq!(lhs, cents(&r["end_mrr"]), "{r}");
        assert_eq!(cents(&r["won_mrr"]), cents(&r["new_mrr"]) + cents(&r["reactivation_mrr"]), "{r}");
    }
    assert!(mv.iter().any(|r| cents(&r["reactivation_mrr"]) > 0), "the demo lake has customers who come back");
    let all: Vec<&Value> = mv.iter().filter(|r| r["segment"] == "All").collect();
    assert_eq!(all.len(), 12);
    for w in all.windows(2) {
        assert_eq!(w[0]["end_mrr"], w[1]["start_mrr"], "{} → {}", w[0]["month"], w[1]["month"]);
    }

    // Ranked tiers differ in size by at most the largest group of equal totals.
    let vt = rows("value_tiers");
    let ranked: Vec<&Value> = vt.iter().filter(|r| r["ranked_tier"] != "Exit").collect();
    let mut groups = std::collections::BTreeMap::<String, usize>::new();
    for r in &ranked {
        *groups.entry(r["total"].to_string()).or_default() += 1;
    }
    let largest_tie = *groups.values().max().unwrap();
    let sizes: Vec<usize> = ["A", "B", "C"].iter().map(|t| ranked.iter().filter(|r| r["ranked_tier"] == *t).count()).collect();
    let (min, max) = (*sizes.iter().min().unwrap(), *sizes.iter().max().unwrap());
    assert!(max - min <= largest_tie, "tier sizes {sizes:?}, largest tie {largest_tie}");
    // Equal totals never straddle two tiers.
    for total in groups.keys() {
        let tiers: std::collections::BTreeSet<&str> =
            ranked.iter().filter(|r| r["total"].to_string() == *total).map(|r| r["ranked_tier"].as_str().unwrap()).collect();
        assert_eq!(tiers.len(), 1, "total {total} in {tiers:?}");
    }

    // Concentration: the curve rises to 1; the heavy tail shows.
    let curve: Vec<f64> = rows("pareto_curve").iter().filter(|r| r["basis"] == "lifetime").map(|r| f(&r["revenue_share"])).collect();
    assert_eq!(curve.len(), 100);
    assert!(curve.windows(2).all(|w| w[0] <= w[1] + 1e-12));
    assert!((curve[99] - 1.0).abs() < 1e-12);
    let c = rows("pareto");
    let life = c.iter().find(|r| r["basis"] == "lifetime").unwrap();
    assert!(f(&life["top20_share"]) > 0.6, "{life}");
    assert!((0.0..1.0).contains(&f(&life["gini"])), "{life}");

    // Retention shares are shares.
    for r in rows("retention_cohorts") {
        let x = f(&r["retention"]);
        assert!((0.0..=1.0).contains(&x), "{r}");
    }
}

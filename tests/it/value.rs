//! The value analytics of the bundled weekly job on the hand-made lake (support/lake.rs), every
//! figure worked out by hand. Week 2026-W47 in Amsterdam; the previous week is 2026-W46.
//!
//! customer_facts as of the period's end (2026-11-22T23:00Z):
//!
//! | id | size       | tenure         | lifetime | margin | 12m rev | period | prev | MRR  | referrals |
//! |----|------------|----------------|----------|--------|---------|--------|------|------|-----------|
//! | 1  | Solo       | 1048 d Veteran | 180.00   | 70.00  | 180.00  | 100.00 | 80.00| 49   | 1 (Globex)|
//! | 2  | SMB        | 540 d Veteran  | 270.50   | 0 (no costs) | 270.50 | 250.50 | 20.00 | 399 | 0 |
//! | 3  | Enterprise | 5 d Trial      | 1000.00  | 600.00 | 1000.00 | 1000.00| 0    | 0    | 0         |
//! | 4  | Unknown    | 13 d Trial     | 49.50    | 29.50  | 49.50   | 49.50  | 0    | 0    | 0         |
//!
//! Scoring (weights 3, 2, 1, 1, 1): revenue quartiles 2, 3, 4, 1; margin quartiles 3, 1, 4, 2;
//! tenure 3, 3, 1, 1; strategic 2, 3, 2, 2; referrals 3, 2, 2, 2 → totals 20, 19, 25, 12.
//! Umbrella has category 1 twice → Exit. The rest rank Initech (25) A, Acme (20) B, Globex (19) C;
//! Initech's tenure category 1 is below A's minimum of 2 → demoted to B.
//!
//! Previous week's end (2026-11-15T23:00Z; Initech had not signed up): Acme 80.00/30.00, Globex
//! 20.00/0, Umbrella 0/0 → revenue 4, 3, 1; margin 4, 1, 1 (tie); totals 28, 19, 10 → Acme A,
//! Globex B, Umbrella Exit.

use crate::support::{TestProject, lake, same};
use serde_json::{Value, json};

fn run_weekly() -> TestProject {
    let p = TestProject::bundled();
    lake::write(&p.root);
    p.run(&["run", "weekly-leadership", "--as-of", "2026-11-23T07:00", "--dry-run"]).expect(0);
    p
}

fn rows(p: &TestProject, query: &str) -> Vec<Value> {
    let v = p.result("archive/weekly-leadership/2026-W47.preview/results", query);
    v["rows"].as_array().unwrap().clone()
}

fn by<'a>(rows: &'a [Value], key: &str, value: Value) -> &'a Value {
    rows.iter().find(|r| r[key] == value).unwrap_or_else(|| panic!("no row with {key} = {value} in {rows:?}"))
}

#[test]
fn customer_facts_tag_and_value_every_customer() {
    let p = run_weekly();
    let f = rows(&p, "customer_facts");
    assert_eq!(f.len(), 4);
    same(
        by(&f, "customer_id", json!(1)),
        json!({
            "company_size": "Solo", "tenure_days": 1048, "tenure_band": "Veteran", "age_band": "45-59", "strategic": false,
            "lifetime_revenue": "180.00", "lifetime_margin": "70.00", "orders": 2, "revenue_12m": "180.00", "margin_12m": "70.00",
            "period_revenue": "100.00", "period_orders": 1, "prev_period_revenue": "80.00", "current_mrr": "49.00", "arr": "588.00",
            "referrals": 1, "first_order_at": "2026-11-10T12:00:00Z", "last_order_at": "2026-11-16T09:00:00Z",
        }),
    );
    same(
        by(&f, "customer_id", json!(2)),
        json!({
            "company_size": "SMB", "tenure_band": "Veteran", "age_band": "Unknown", "strategic": true,
            "lifetime_revenue": "270.50", "lifetime_margin": "0.00", "period_revenue": "250.50", "prev_period_revenue": "20.00",
            "current_mrr": "399.00", "arr": "4788.00", "referrals": 0,
        }),
    );
    // Order 104 at 23:00Z on Sunday is the next week's first instant: not counted.
    same(
        by(&f, "customer_id", json!(3)),
        json!({
            "company_size": "Enterprise", "tenure_days": 5, "tenure_band": "Trial", "strategic": false,
            "lifetime_revenue": "1000.00", "orders": 1, "current_mrr": "0.00", "arr": "0.00",
        }),
    );
    same(
        by(&f, "customer_id", json!(4)),
        json!({
            "company_size": "Unknown", "tenure_days": 13, "tenure_band": "Trial", "lifetime_revenue": "49.50", "period_revenue": "49.50",
        }),
    );
}

#[test]
fn the_value_model_scores_ranks_refines_and_exits() {
    let p = run_weekly();
    let t = rows(&p, "value_tiers");
    let tiers: Vec<(i64, &str, f64, &str)> = t
        .iter()
        .map(|r| {
            (
                r["customer_id"].as_i64().unwrap(),
                r["tier"].as_str().unwrap(),
                r["total"].as_f64().unwrap(),
                r["ranked_tier"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(tiers, vec![(3, "B", 25.0, "A"), (1, "B", 20.0, "B"), (2, "C", 19.0, "C"), (4, "Exit", 12.0, "Exit")]);
    same(
        by(&t, "customer_id", json!(3)),
        json!({
            "revenue_category": 4, "margin_category": 4, "tenure_category": 1, "strategic_category": 2, "referrals_category": 2,
            "reason": "demoted from A: below category 2 on tenure",
        }),
    );
    same(
        by(&t, "customer_id", json!(1)),
        json!({
            "revenue": "180.00", "revenue_category": 2, "margin_category": 3, "tenure": 1048, "tenure_category": 3,
            "strategic_category": 2, "referrals": 1, "referrals_category": 3, "reason": null,
        }),
    );
    same(by(&t, "customer_id", json!(2)), json!({"revenue_category": 3, "margin_category": 1, "strategic_category": 3}));
    same(by(&t, "customer_id", json!(4)), json!({"revenue_category": 1, "margin_category": 2, "tenure_category": 1}));

    // The previous period's tiers are in that period's own folder; here, computed on the spot.
    let out = p.run(&[
        "query",
        "SELECT * FROM value_tiers__prev",
        "--job",
        "weekly-leadership",
        "--as-of",
        "2026-11-23T07:00",
        "--format",
        "json",
    ]);
    out.expect(0);
    let prev: Value = serde_json::from_str(&out.stdout).unwrap();
    let prev = prev["rows"].as_array().unwrap().clone();
    let prev: Vec<(i64, &str, f64)> =
        prev.iter().map(|r| (r["customer_id"].as_i64().unwrap(), r["tier"].as_str().unwrap(), r["total"].as_f64().unwrap())).collect();
    assert_eq!(prev, vec![(1, "A", 28.0), (2, "B", 19.0), (4, "Exit", 10.0)]);
}

#[test]
fn tier_summary_shares_and_service_levels() {
    let p = run_weekly();
    let s = rows(&p, "tier_summary");
    let tiers: Vec<&str> = s.iter().map(|r| r["tier"].as_str().unwrap()).collect();
    assert_eq!(tiers, vec!["B", "C", "Exit"], "no customer is in A this week");
    same(
        &s[0],
        json!({
            "members": 2, "member_share": 0.5, "revenue": "1180.00", "revenue_share": 1180.0 / 1500.0, "margin_share": 670.0 / 699.5,
            "arr": "588.00", "mean_score": 22.5, "first_reply_hours": 8.0,
            "promise": "Priority queue; first reply within 8 hours, resolution within 2 days",
        }),
    );
    same(
        &s[1],
        json!({"members": 1, "member_share": 0.25, "revenue_share": 270.5 / 1500.0, "margin_share": 0.0, "arr": "4788.00", "mean_score": 19.0}),
    );
    same(&s[2], json!({"members": 1, "revenue_share": 49.5 / 1500.0, "margin_share": 29.5 / 699.5, "first_reply_hours": null}));
}

#[test]
fn concentration_top_20_share_80_and_gini() {
    let p = run_weekly();
    let c = rows(&p, "pareto");
    // Lifetime: 49.50, 180.00, 270.50, 1000.00 (total 1500). Top ⌈0.8⌉ = 1 customer; 1000 + 270.50
    // reaches 80 %; Gini = 2·(49.5 + 2·180 + 3·270.5 + 4·1000)/(4·1500) − 5/4.
    same(
        by(&c, "basis", json!("lifetime")),
        json!({
            "customers": 4, "revenue": "1500.00", "top20_customers": 1, "top20_share": 1000.0 / 1500.0,
            "customers_to_80": 2, "share_to_80": 0.5, "gini": 2.0 * 5221.0 / 6000.0 - 1.25,
        }),
    );
    same(
        by(&c, "basis", json!("period")),
        json!({
            "customers": 4, "revenue": "1400.00", "top20_share": 1000.0 / 1400.0, "customers_to_80": 2, "gini": 2.0 * 5001.0 / 5600.0 - 1.25,
        }),
    );
    let curve = rows(&p, "pareto_curve");
    assert_eq!(curve.len(), 200);
    // The bottom 25 % is one customer (49.50 of 1500); the bottom 26 % already two.
    same(&curve[24], json!({"basis": "lifetime", "customer_pct": 25, "revenue_share": 49.5 / 1500.0}));
    same(&curve[25], json!({"basis": "lifetime", "customer_pct": 26, "revenue_share": 229.5 / 1500.0}));
    same(&curve[99], json!({"basis": "lifetime", "customer_pct": 100, "revenue_share": 1.0}));
}

#[test]
fn segment_value_by_each_dimension() {
    let p = run_weekly();
    let s = rows(&p, "segment_value");
    let seg = |d: &str, name: &str| {
        s.iter().find(|r| r["dimension"] == d && r["segment"] == name).unwrap_or_else(|| panic!("{d}/{name}")).clone()
    };
    same(
        &seg("company_size", "SMB"),
        json!({
            "customers": 1, "revenue": "250.50", "revenue_share": 250.5 / 1400.0, "aov": 250.5, "orders_per_customer": 1.0,
            "ltv": 270.5, "arr": "4788.00", "arpa": 4788.0, "prev_revenue": "20.00", "revenue_change": 11.525,
        }),
    );
    same(
        &seg("company_size", "Enterprise"),
        json!({"revenue": "1000.00", "arr": "0.00", "arpa": null, "prev_revenue": "0.00", "revenue_change": null}),
    );
    same(
        &seg("value_tier", "B"),
        json!({
            "customers": 2, "revenue": "1100.00", "revenue_share": 1100.0 / 1400.0, "aov": 550.0, "ltv": 590.0, "arpa": 588.0, "revenue_change": 12.75,
        }),
    );
    same(&seg("tenure", "Trial"), json!({"customers": 2, "revenue": "1049.50", "ltv": 524.75}));
    same(&seg("tenure", "Veteran"), json!({"customers": 2, "revenue": "350.50", "ltv": 225.25, "arpa": 2688.0, "revenue_change": 2.505}));
    same(&seg("region", "Europe"), json!({"customers": 3, "revenue": "1149.50"}));
    // Shares within each dimension sum to 1.
    for d in ["value_tier", "company_size", "tenure", "region", "industry"] {
        let total: f64 = s.iter().filter(|r| r["dimension"] == d).map(|r| r["revenue_share"].as_f64().unwrap()).sum();
        assert!((total - 1.0).abs() < 1e-12, "{d}: {total}");
    }
}

#[test]
fn migration_and_who_fell_out_of_a() {
    let p = run_weekly();
    let m = rows(&p, "tier_migration");
    let got: Vec<Value> = m
        .iter()
        .map(|r| json!([r["from_tier"], r["customers"], r["to_a"], r["to_b"], r["to_c"], r["to_exit"], r["moved"], r["moved_revenue"]]))
        .collect();
    assert_eq!(
        got,
        vec![
            json!(["A", 1, 0, 1, 0, 0, 1, "180.00"]),
            json!(["B", 1, 0, 0, 1, 0, 1, "270.50"]),
            json!(["Exit", 1, 0, 0, 0, 1, 0, "0.00"]),
            json!(["New", 1, 0, 1, 0, 0, 1, "1000.00"]),
        ]
    );
    let fell = rows(&p, "fell_from_a");
    assert_eq!(fell.len(), 1);
    same(
        &fell[0],
        json!({
            "customer_id": 1, "name": "Acme", "now_tier": "B", "reason": "score fell below the A cut-off",
            "revenue_12m": "180.00", "prev_revenue_12m": "80.00", "revenue_change": 1.25,
        }),
    );
}

#[test]
fn lookalike_with_no_a_customers_shows_no_lift() {
    let p = run_weekly();
    let l = rows(&p, "lookalike");
    assert!(!l.is_empty());
    for r in &l {
        assert_eq!(r["a_customers"], 0);
        assert_eq!(r["a_share"], Value::Null);
        assert_eq!(r["lift"], Value::Null);
    }
    same(l.iter().find(|r| r["dimension"] == "region" && r["segment"] == "Europe").unwrap(), json!({"customers": 3, "all_share": 0.75}));
}

#[test]
fn recurring_revenue_movements_reconcile() {
    let p = run_weekly();
    let m = rows(&p, "revenue_movements");
    let all: Vec<&Value> = m.iter().filter(|r| r["segment"] == "All").collect();
    let got: Vec<Value> = all
        .iter()
        .map(|r| {
            json!([
                r["month"],
                r["start_mrr"],
                r["new_mrr"],
                r["reactivation_mrr"],
                r["expansion_mrr"],
                r["contraction_mrr"],
                r["churned_mrr"],
                r["end_mrr"]
            ])
        })
        .collect();
    assert_eq!(
        got,
        vec![
            json!(["2026-09-01", "0.00", "49.00", "0.00", "0.00", "0.00", "0.00", "49.00"]),
            json!(["2026-10-01", "49.00", "299.00", "0.00", "0.00", "0.00", "0.00", "348.00"]),
            json!(["2026-11-01", "348.00", "0.00", "0.00", "100.00", "0.00", "0.00", "448.00"]),
        ]
    );
    same(all[0], json!({"start_customers": 0, "logo_churn_rate": null, "grr": null, "nrr": null, "nrr_12m": null}));
    same(all[2], json!({"start_customers": 2, "churned_customers": 0, "logo_churn_rate": 0.0, "grr": 1.0, "nrr": 448.0 / 348.0}));
    let smb: Vec<Value> =
        m.iter().filter(|r| r["segment"] == "SMB").map(|r| json!([r["month"], r["new_mrr"], r["expansion_mrr"], r["end_mrr"]])).collect();
    assert_eq!(smb, vec![json!(["2026-10-01", "299.00", "0.00", "299.00"]), json!(["2026-11-01", "0.00", "100.00", "399.00"])]);
}

#[test]
fn retention_cohorts_and_triangle() {
    let p = run_weekly();
    // Only Initech and Umbrella signed up in the last twelve months (November); both ordered then.
    let c = rows(&p, "retention_cohorts");
    assert_eq!(c.len(), 1);
    same(&c[0], json!({"cohort": "2026-11-01", "months_since": 0, "cohort_customers": 2, "active_customers": 2, "retention": 1.0}));
    let t = rows(&p, "retention_triangle");
    same(&t[0], json!({"cohort": "2026-11-01", "customers": 2, "m0": 1.0, "m1": null}));
}

#[test]
fn headline_compares_with_the_previous_period() {
    let p = run_weekly();
    let h = rows(&p, "headline");
    same(
        &h[0],
        json!({
            "revenue": "1400.00", "prev_revenue": "100.00", "orders": 4, "prev_orders": 2, "aov": 350.0, "prev_aov": 50.0,
            "active_customers": 4, "prev_active_customers": 2, "new_customers": 1, "prev_new_customers": 1,
            "arr": "5376.00", "prev_arr": "5376.00", "paying_customers": 2, "prev_paying_customers": 2,
        }),
    );
    let text = p.read("archive/weekly-leadership/2026-W47.preview/report.txt");
    for line in [
        "  ARR: €5,376 (■ ±0.0% vs previous period; from €588 to €5,376 over 12 periods)",
        "The top 20% of customers (1) bring 66.7% of lifetime revenue; 2 customers (50.0%) bring 80% of it.",
    ] {
        assert!(text.contains(line), "report.txt lacks {line:?}:\n{text}");
    }
}

/// The sparklines' figures: twelve weeks back from W47, each week [Monday 00:00, next Monday) in
/// Amsterdam (23:00Z the Sunday before).
/// - Orders: week 12 (W47) has 107 (its first instant), 101, 102 and 103 (104 is W48's first
///   instant); week 11 has 105 and 106 (a second before W47); weeks 1–10 none.
/// - New customers: Initech (11-18) in week 12, Umbrella (11-10) in week 11.
/// - ARR as of each week's end, from the month holding its last day: weeks 9–12 end 2, 9, 16 and
///   23 November (November: Acme 49 + Globex 399 → 12 × 448 = 5376); weeks 5–8 in October
///   (49 + 299 → 4176); weeks 1–4 in September (Acme alone: 588).
#[test]
fn the_headline_trend_gives_each_of_twelve_weeks() {
    let p = run_weekly();
    let t = rows(&p, "headline_trend");
    assert_eq!(t.len(), 12);
    for (i, row) in t.iter().enumerate() {
        let period = i as i64 + 1;
        let (revenue, orders, aov, new_customers) = match period {
            12 => ("1400.00", 4, json!(350.0), 1),
            11 => ("100.00", 2, json!(50.0), 1),
            _ => ("0.00", 0, Value::Null, 0),
        };
        let (arr, paying) = match period {
            9..=12 => ("5376.00", 2),
            5..=8 => ("4176.00", 2),
            _ => ("588.00", 1),
        };
        same(
            row,
            json!({
                "period": period, "revenue": revenue, "orders": orders, "aov": aov, "new_customers": new_customers,
                "arr": arr, "paying_customers": paying,
            }),
        );
    }
    let text = p.read("archive/weekly-leadership/2026-W47.preview/report.txt");
    for line in [
        "  Revenue: €1,400 (▲ +1,300.0% vs previous period; from €0 to €1,400 over 12 periods)",
        "  Paying customers: 2 (■ ±0.0% vs previous period; from 1 to 2 over 12 periods)",
    ] {
        assert!(text.contains(line), "report.txt lacks {line:?}:\n{text}");
    }
}

#[test]
fn without_subscriptions_the_recurring_revenue_section_is_off_with_a_note() {
    let p = TestProject::bundled();
    lake::write(&p.root);
    std::fs::remove_dir_all(p.path("lake/subscriptions")).unwrap();
    let out = p.run(&["check", "weekly-leadership"]);
    out.expect(0);
    assert!(out.stdout.contains("note: jobs/weekly-leadership.toml: `revenue_movements` will be off (its report section says so): the lake `lake` has no table `subscriptions`"), "{}", out.stdout);
    p.run(&["run", "weekly-leadership", "--as-of", "2026-11-23", "--dry-run"]).expect(0);
    let text = p.read("archive/weekly-leadership/2026-W47.preview/report.txt");
    assert!(
        text.contains("RECURRING REVENUE MOVEMENTS (all customers)\nNot available: the lake `lake` has no table `subscriptions`."),
        "{text}"
    );
    // Everything else is still there, with ARR as zero.
    assert!(text.contains("  ARR: €0"), "{text}");
    assert!(rows(&p, "tier_summary").len() == 3);
}

/// The whole plain-text report for the hand-made lake, pinned: any change to a query, a helper or
/// a template that changes what leadership reads shows up here. Its charts are pinned to the byte
/// too: the font is bundled and nothing of the machine is read, so the PNGs made where they were
/// pinned are the ones made here. To accept a change on purpose, run with
/// PARETO_UPDATE_SNAPSHOTS=1 and review the diff of tests/it/snapshots/ (and look at the charts).
#[test]
fn the_weekly_report_reads_as_pinned() {
    let p = run_weekly();
    let text = p.read("archive/weekly-leadership/2026-W47.preview/report.txt");
    let file = std::path::Path::new(crate::support::REPO).join("tests/it/snapshots/weekly-leadership.txt");
    let charts = std::path::Path::new(crate::support::REPO).join("tests/it/snapshots/weekly-leadership-charts");
    let made = p.path("archive/weekly-leadership/2026-W47.preview/charts");
    let names = |dir: &std::path::Path| {
        let mut n: Vec<String> =
            std::fs::read_dir(dir).map_or(Vec::new(), |d| d.map(|e| e.unwrap().file_name().into_string().unwrap()).collect());
        n.sort();
        n
    };
    if std::env::var_os("PARETO_UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&file, &text).unwrap();
        let _ = std::fs::remove_dir_all(&charts);
        crate::support::copy_dir(&made, &charts);
    }
    assert_eq!(names(&made), names(&charts), "the charts made (left) and pinned (right)");
    for name in names(&made) {
        let (got, want) = (std::fs::read(made.join(&name)).unwrap(), std::fs::read(charts.join(&name)).unwrap());
        assert!(got == want, "charts/{name} is not the pinned PNG, byte for byte ({} bytes made, {} pinned)", got.len(), want.len());
    }
    let pinned = std::fs::read_to_string(&file).unwrap_or_default();
    if text != pinned {
        let first = text.lines().zip(pinned.lines()).position(|(a, b)| a != b).unwrap_or(text.lines().count().min(pinned.lines().count()));
        panic!(
            "report.txt differs from {} at line {}:\n  now:    {:?}\n  pinned: {:?}",
            file.display(),
            first + 1,
            text.lines().nth(first),
            pinned.lines().nth(first)
        );
    }
}

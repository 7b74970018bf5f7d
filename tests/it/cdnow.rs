//! The value figures on a real transaction log — the CDNOW purchase history (23,570 customers,
//! 69,659 purchases, 1997–98) — converted to the data contract, against an independent
//! computation of the same definitions in Python from the raw file (support/cdnow_check.py).
//! `.ci/test` fetches the file from the `lifetimes` package on PyPI into target/testdata/.

use crate::support::lake::{days, write_parquet};
use crate::support::{REPO, TestProject};
use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Decimal128Array, Int32Array, Int64Array, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

fn cdnow_file() -> std::path::PathBuf {
    let path = std::path::Path::new(REPO).join("target/testdata/CDNOW_master.txt");
    assert!(path.is_file(), "{} is missing: run the README's test command (bash .ci/test), which fetches it", path.display());
    path
}

/// Convert CDNOW to the contract: a customer per id (signed up on their first purchase), an order
/// per line at 12:00 UTC on its date.
fn convert(root: &std::path::Path) {
    convert_log(root, &cdnow_file(), [0, 1, 3]);
}

/// Convert a CDNOW-style log (whitespace-separated; `columns` are the id, yyyymmdd date and
/// amount fields) to the contract, as [`convert`] does.
pub fn convert_log(root: &std::path::Path, file: &std::path::Path, columns: [usize; 3]) {
    let [id, date, amount] = columns;
    let text = std::fs::read_to_string(file).unwrap();
    let mut orders: Vec<(i64, i32, i128)> = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() <= amount || f[id].parse::<i64>().is_err() {
            continue; // a header line
        }
        let day = format!("{}-{}-{}", &f[date][..4], &f[date][4..6], &f[date][6..]);
        let (d, c) = f[amount].split_once('.').unwrap();
        orders.push((f[id].parse().unwrap(), days(&day), d.parse::<i128>().unwrap() * 100 + c.parse::<i128>().unwrap()));
    }
    let mut signup: BTreeMap<i64, i32> = BTreeMap::new();
    for (c, d, _) in &orders {
        let e = signup.entry(*c).or_insert(*d);
        *e = (*e).min(*d);
    }
    let n = signup.len();
    let ids: Vec<i64> = signup.keys().copied().collect();
    let customers = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("customer_id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, false),
            Field::new("signup_date", DataType::Date32, false),
            Field::new("country", DataType::Utf8, false),
            Field::new("region", DataType::Utf8, false),
            Field::new("industry", DataType::Utf8, false),
            Field::new("employees", DataType::Int32, true),
            Field::new("birth_year", DataType::Int32, true),
            Field::new("strategic", DataType::Boolean, true),
            Field::new("referred_by", DataType::Int64, true),
        ])),
        vec![
            Arc::new(Int64Array::from(ids.clone())) as ArrayRef,
            Arc::new(StringArray::from_iter_values(ids.iter().map(|i| format!("CDNOW {i:05}")))),
            Arc::new(Date32Array::from(signup.values().copied().collect::<Vec<_>>())),
            Arc::new(StringArray::from(vec!["US"; n])),
            Arc::new(StringArray::from(vec!["North America"; n])),
            Arc::new(StringArray::from(vec!["Music"; n])),
            Arc::new(Int32Array::from(vec![None; n])),
            Arc::new(Int32Array::from(vec![None; n])),
            Arc::new(BooleanArray::from(vec![None; n])),
            Arc::new(Int64Array::from(vec![None; n])),
        ],
    )
    .unwrap();
    write_parquet(&root.join("lake/customers/customers.parquet"), &customers);
    let noon = 12 * 3600 * 1_000_000i64;
    let orders = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("order_id", DataType::Int64, false),
            Field::new("customer_id", DataType::Int64, false),
            Field::new("ordered_at", DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), false),
            Field::new("amount", DataType::Decimal128(18, 2), false),
            Field::new("cost", DataType::Decimal128(18, 2), true),
        ])),
        vec![
            Arc::new(Int64Array::from_iter_values(1..=orders.len() as i64)) as ArrayRef,
            Arc::new(Int64Array::from_iter_values(orders.iter().map(|o| o.0))),
            Arc::new(
                TimestampMicrosecondArray::from_iter_values(orders.iter().map(|o| o.1 as i64 * 86_400_000_000 + noon)).with_timezone("UTC"),
            ),
            Arc::new(Decimal128Array::from_iter_values(orders.iter().map(|o| o.2)).with_precision_and_scale(18, 2).unwrap()),
            Arc::new(Decimal128Array::from(vec![None::<i128>; orders.len()]).with_precision_and_scale(18, 2).unwrap()),
        ],
    )
    .unwrap();
    write_parquet(&root.join("lake/orders/orders.parquet"), &orders);
}

fn close(got: &Value, want: &Value, what: &str) {
    match (got.as_f64(), want.as_f64()) {
        (Some(g), Some(w)) => assert!((g - w).abs() <= 1e-9 * w.abs().max(1.0), "{what}: pareto {g}, independent {w}"),
        _ => assert_eq!(got, want, "{what}"),
    }
}

#[test]
fn value_figures_on_the_cdnow_log_match_an_independent_computation() {
    let p = TestProject::bundled();
    convert(&p.root);
    // The log has no support data: drop the freshness gate on tickets for this run.
    p.file(
        "jobs/weekly-leadership.toml",
        &p.read("jobs/weekly-leadership.toml").replace("require_fresh = { orders = \"48h\", tickets = \"48h\" }", ""),
    );
    // The week of 29 December 1997 – 4 January 1998, as of Monday 5 January.
    p.run(&["run", "weekly-leadership", "--as-of", "1998-01-05", "--dry-run"]).expect(0);
    let result = |q: &str| -> Vec<Value> {
        let v = p.result("archive/weekly-leadership/1998-W01.preview/results", q);
        v["rows"].as_array().unwrap().clone()
    };
    let out = std::process::Command::new("python3")
        .arg(std::path::Path::new(REPO).join("tests/it/support/cdnow_check.py"))
        .args([cdnow_file().to_str().unwrap(), "1997-12-29", "1998-01-05"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let want: Value = serde_json::from_slice(&out.stdout).unwrap();

    let pareto = result("pareto");
    for basis in ["lifetime", "period"] {
        let got = pareto.iter().find(|r| r["basis"] == basis).unwrap();
        for (k, w) in want["pareto"][basis].as_object().unwrap() {
            close(&got[k], w, &format!("pareto {basis} {k}"));
        }
    }
    // The log is real: a few customers bring most of the revenue.
    assert!(want["pareto"]["lifetime"]["top20_share"].as_f64().unwrap() > 0.5);

    let segments = result("segment_value");
    let tenure = want["tenure"].as_object().unwrap();
    assert!(!tenure.is_empty());
    for (band, w) in tenure {
        let got = segments.iter().find(|r| r["dimension"] == "tenure" && r["segment"] == *band).unwrap_or_else(|| panic!("{band}"));
        for (k, v) in w.as_object().unwrap() {
            close(&got[k], v, &format!("tenure {band} {k}"));
        }
    }

    let headline = &result("headline")[0];
    for (k, v) in want["headline"].as_object().unwrap() {
        close(&headline[k], v, &format!("headline {k}"));
    }

    let cohorts = result("retention_cohorts");
    let expected = want["retention"].as_array().unwrap();
    assert_eq!(cohorts.len(), expected.len());
    for (g, w) in cohorts.iter().zip(expected) {
        for (k, v) in w.as_object().unwrap() {
            close(&g[k], v, &format!("retention {} {k}", w["cohort"]));
        }
    }

    // No subscriptions in this log: recurring revenue is off, and said so.
    let text = p.read("archive/weekly-leadership/1998-W01.preview/report.txt");
    assert!(text.contains("Not available: the lake `lake` has no table `subscriptions`."), "{text}");
}

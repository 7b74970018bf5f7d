//! What keeps a run fast and lean at a real company's size, checked for what it must not change:
//! the previous period's facts derived in one pass equal the full recomputation, a memory limit
//! (spilling) gives byte-identical results, the archive keeps every result as Parquet that
//! `pareto query --from-archive` reads back, and `--explain` shows the plan with its metrics.

use crate::support::TestProject;
use serde_json::Value;

/// A bundled project on a generated lake of `customers` customers (data to 2026-11-23).
fn generated(customers: u32) -> TestProject {
    let p = TestProject::bundled();
    p.run(&["generate", "--out", "lake", "--customers", &customers.to_string(), "--seed", "21", "--until", "2026-11-23"]).expect(0);
    p
}

/// The rows of `pareto query … --format json`, sorted, as text (for comparing sets of rows).
fn query_rows(p: &TestProject, args: &[&str]) -> Vec<String> {
    let mut all = vec!["query"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--format", "json"]);
    let out = p.run(&all);
    out.expect(0);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    let mut rows: Vec<String> = v["rows"].as_array().unwrap().iter().map(|r| r.to_string()).collect();
    rows.sort();
    rows
}

#[test]
fn customer_facts_of_the_previous_period_derived_in_one_pass_equal_the_full_recomputation() {
    for p in [generated(1500), {
        let p = TestProject::bundled();
        crate::support::lake::write(&p.root);
        p
    }] {
        // customer_facts one period back, reading customer_orders__prev.sql (derived from this
        // period's customer_orders) …
        let derived = query_rows(&p, &["SELECT * FROM customer_facts__prev", "--job", "weekly-leadership", "--as-of", "2026-11-23"]);
        // … against customer_facts.sql run with the previous week's parameters.
        let full = query_rows(&p, &["-f", "queries/customer_facts.sql", "--job", "weekly-leadership", "--as-of", "2026-11-16"]);
        assert!(derived.len() > 2, "{} rows", derived.len());
        assert_eq!(derived.len(), full.len());
        for (d, f) in derived.iter().zip(&full) {
            assert_eq!(d, f);
        }
        // The derived order sums themselves equal customer_orders run one period back.
        // (A window with no orders sums to NULL in customer_orders and to 0 when derived.)
        let columns = "customer_id, COALESCE(lifetime_revenue, 0) AS lifetime_revenue, COALESCE(lifetime_margin, 0) AS lifetime_margin, \
                       orders, first_order_at, last_order_at, COALESCE(revenue_12m, 0) AS revenue_12m, \
                       COALESCE(margin_12m, 0) AS margin_12m, COALESCE(period_revenue, 0) AS period_revenue, period_orders, \
                       COALESCE(prev_period_revenue, 0) AS prev_period_revenue, prev_period_orders";
        let derived = query_rows(
            &p,
            &[&format!("SELECT {columns} FROM customer_orders__prev"), "--job", "weekly-leadership", "--as-of", "2026-11-23"],
        );
        let full =
            query_rows(&p, &[&format!("SELECT {columns} FROM customer_orders"), "--job", "weekly-leadership", "--as-of", "2026-11-16"]);
        assert!(derived.len() > 1, "{} rows", derived.len());
        assert_eq!(derived.len(), full.len());
        for (d, f) in derived.iter().zip(&full) {
            assert_eq!(d, f);
        }
    }
}

#[test]
fn a_memory_limit_that_makes_queries_spill_gives_byte_identical_results() {
    // 20,000 customers under a 64 MiB pool: the biggest aggregations (data_quality,
    // revenue_movements) do not fit and spill to disk.
    let mut p = generated(20_000);
    p.run(&["run", "weekly-leadership", "--as-of", "2026-11-23", "--dry-run"]).expect(0);
    let dir = p.path("archive/weekly-leadership/2026-W47.preview");
    let unlimited = crate::support::files(&dir);
    p.env("PARETO_MEMORY_LIMIT", "64MiB");
    p.run(&["run", "weekly-leadership", "--as-of", "2026-11-23", "--dry-run"]).expect(0);
    let limited = crate::support::files(&dir);
    crate::support::same_run(&limited, &unlimited, "with a memory limit");
    // The limited run stayed within its pool, and some of it did spill.
    let run: Value = serde_json::from_str(&p.read("archive/weekly-leadership/2026-W47.preview/run.json")).unwrap();
    let queries = run["queries"].as_array().unwrap();
    for q in queries {
        assert!(q["peak_mib"].as_f64().unwrap() <= 64.0, "{q}");
    }
    assert!(queries.iter().any(|q| q["spilled_mib"].as_f64().unwrap_or(0.0) > 0.0), "nothing spilled: {queries:?}");
}

#[test]
fn every_result_is_archived_as_parquet_and_pareto_query_reads_last_weeks_back() {
    let p = generated(1500);
    p.run(&["run", "weekly-leadership", "--as-of", "2026-11-16", "--dry-run"]).expect(0);
    p.run(&["run", "weekly-leadership", "--as-of", "2026-11-23", "--dry-run"]).expect(0);
    let results = p.path("archive/weekly-leadership/2026-W46.preview/results");
    let names: Vec<String> = std::fs::read_dir(&results).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().to_string()).collect();
    for q in ["customer_facts.parquet", "value_tiers.parquet", "headline.parquet", "headline.json", "exit_list.csv"] {
        assert!(names.iter().any(|n| n == q), "{q} in {names:?}");
    }
    // `-- pareto: archive off`: customer_orders runs, and customer_facts holds its sums.
    assert!(!names.iter().any(|n| n.starts_with("customer_orders")), "{names:?}");
    // Intermediate results are not JSON (what templates read is), and the previous period's own
    // results live in its own folder.
    assert!(!names.iter().any(|n| n == "customer_facts.json" || n.contains("__prev")), "{names:?}");

    // Last week's customer_facts, read from the archive, is what last week's run computed …
    let archived = query_rows(&p, &["SELECT * FROM customer_facts", "--from-archive", "weekly-leadership/2026-W46.preview"]);
    let computed = query_rows(&p, &["SELECT * FROM customer_facts", "--job", "weekly-leadership", "--as-of", "2026-11-16"]);
    assert_eq!(archived, computed);
    // … and without a period the latest run's.
    let out = p.run(&["query", "SELECT COUNT(*) AS n FROM customer_facts", "--from-archive", "weekly-leadership", "--format", "csv"]);
    out.expect(0);
    assert!(out.stderr.contains("archive/weekly-leadership/2026-W47.preview"), "{}", out.stderr);
    let latest = query_rows(&p, &["SELECT COUNT(*) AS n FROM customer_facts", "--job", "weekly-leadership", "--as-of", "2026-11-23"]);
    assert_eq!(out.stdout, format!("n\n{}\n", serde_json::from_str::<Value>(&latest[0]).unwrap()["n"]));

    let out = p.run(&["query", "SELECT 1", "--from-archive", "nope"]);
    out.expect(2);
    assert!(out.stderr.starts_with("error: --from-archive nope: no archive for job `nope` in "), "{}", out.stderr);

    // run.json has each query's time, rows and memory.
    let run: Value = serde_json::from_str(&p.read("archive/weekly-leadership/2026-W47.preview/run.json")).unwrap();
    let facts = run["queries"].as_array().unwrap().iter().find(|q| q["name"] == "customer_orders").unwrap();
    assert!(facts["rows"].as_u64().unwrap() > 1000, "{facts}");
    assert!(facts["peak_mib"].as_f64().unwrap() > 0.0, "{facts}");
    assert!(facts["result_mib"].as_f64().unwrap() > 0.0, "{facts}");
}

#[test]
fn explain_runs_what_a_query_reads_then_shows_its_plan_with_metrics() {
    let p = generated(300);
    let out = p.run(&["query", "-f", "queries/segment_value.sql", "--job", "weekly-leadership", "--as-of", "2026-11-23", "--explain"]);
    out.expect(0);
    assert!(out.stdout.starts_with("-- Plan with Metrics\n"), "{}", out.stdout);
    assert!(out.stdout.contains("AggregateExec"), "{}", out.stdout);
    assert!(out.stdout.contains("output_rows="), "{}", out.stdout);
}

#[test]
fn a_previous_period_file_without_its_query_is_an_error() {
    let p = TestProject::bundled();
    crate::support::lake::write(&p.root);
    p.file("queries/nothing__prev.sql", "SELECT 1 AS x\n");
    let out = p.run(&["check"]);
    out.expect(2);
    assert!(
        out.stdout.starts_with(
            "queries/nothing__prev.sql: `nothing__prev` is the previous period of query `nothing`, but there is no queries/nothing.sql; rename it or add that query"
        ),
        "{}",
        out.stdout
    );
}

#[test]
fn a_job_without_a_prediction_does_not_count_purchase_days() {
    // The model's pass over orders (purchase_days) runs only for jobs that predict: a job that
    // reads customer_facts runs customer_orders and customer_segments, and nothing of the model.
    let p = TestProject::bundled();
    crate::support::lake::write(&p.root);
    p.file(
        "jobs/sizes.toml",
        "name = \"sizes\"\nschedule = \"0 7 * * MON\"\nperiod = \"week\"\nqueries = [\"sizes\"]\ntemplate = \"t\"\nsubject = \"x\"\n\
         to = [\"a@example.com\"]\n\n[params]\nsize_smb = 10\nsize_mid = 100\nsize_enterprise = 1000\n",
    );
    p.file("queries/sizes.sql", "SELECT company_size, SUM(revenue_12m) AS revenue FROM customer_facts GROUP BY 1 ORDER BY 1\n");
    p.file("templates/t.html.hbs", "{{table results.sizes}}\n");
    p.file("templates/t.txt.hbs", "{{table results.sizes}}\n");
    p.run(&["run", "sizes", "--as-of", "2026-11-23", "--dry-run"]).expect(0);
    let run: Value = serde_json::from_str(&p.read("archive/sizes/2026-W47.preview/run.json")).unwrap();
    let mut ran: Vec<&str> = run["queries"].as_array().unwrap().iter().map(|q| q["name"].as_str().unwrap()).collect();
    ran.sort();
    assert_eq!(ran, ["customer_facts", "customer_orders", "customer_segments", "sizes"]);
}

#[test]
fn purchase_days_are_utc_dates_across_midnight_and_before_1970() {
    // purchase_days keeps a day as a number while it sums (days since 1970-01-01 of the UTC
    // time); the days it counts, and the first of them, are the UTC dates of the orders, for
    // orders before 1970 too. W47 runs from 2026-11-15T23:00Z (Monday 00:00 in Amsterdam).
    //   customer 1: UTC days 1969-12-31 (10.00), 1970-01-01 (20.00 + 5.00), 2026-11-15 (7.00, in
    //               the period: 00:30 Monday local) and 2026-11-16 (100.00 + 3.00): 4 days, the
    //               first worth 10.00; 35.00 before the period; 2 days in it, the first 11-15's 7.00
    //   customer 2: two orders on 1969-12-31, at its first and last microsecond: 1 day, 3.00
    let p = TestProject::bundled();
    crate::support::lake::write(&p.root);
    std::fs::remove_dir_all(p.path("lake/orders")).unwrap();
    crate::support::lake::write_parquet(
        &p.path("lake/orders/orders.parquet"),
        &crate::support::lake::orders_batch(&[
            (1, 1, "1969-12-31T23:30:00Z", 1000, None, "web"),
            (2, 1, "1970-01-01T00:10:00Z", 2000, None, "web"),
            (3, 1, "1970-01-01T10:00:00Z", 500, None, "web"),
            (4, 1, "2026-11-15T23:30:00Z", 700, None, "web"),
            (5, 1, "2026-11-16T09:00:00Z", 10000, None, "web"),
            (6, 1, "2026-11-16T20:00:00Z", 300, None, "web"),
            (7, 2, "1969-12-31T00:00:00Z", 100, None, "web"),
            (8, 2, "1969-12-31T23:59:59.999999Z", 200, None, "web"),
        ]),
    );
    let rows = query_rows(&p, &["-f", "queries/purchase_days.sql", "--job", "weekly-leadership", "--as-of", "2026-11-23"]);
    let rows: Vec<Value> = rows.iter().map(|r| serde_json::from_str(r).unwrap()).collect();
    assert_eq!(rows.len(), 2, "{rows:?}");
    crate::support::same(
        &rows[0],
        serde_json::json!({
            "customer_id": 1, "order_days": 4, "first_day_revenue": "10.00", "revenue_before_period": "35.00",
            "period_order_days": 2, "period_first_day": "2026-11-15", "period_first_day_revenue": "7.00",
        }),
    );
    crate::support::same(
        &rows[1],
        serde_json::json!({
            "customer_id": 2, "order_days": 1, "first_day_revenue": "3.00", "revenue_before_period": "3.00",
            "period_order_days": 0, "period_first_day": null, "period_first_day_revenue": null,
        }),
    );
}

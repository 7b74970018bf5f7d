//! The other commands: `query`, `list`, `generate`, `demo`; and hive-partitioned tables.

use crate::support::lake::{self, write_parquet};
use crate::support::{REPO, TestProject, copy_dir};
use datafusion::arrow::array::{ArrayRef, Int64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use std::sync::Arc;

#[test]
fn query_prints_a_table_and_binds_the_period() {
    let p = TestProject::bundled();
    lake::write(&p.root);
    let out = p.run(&["query", "SELECT customer_id, SUM(amount) AS revenue FROM orders WHERE ordered_at >= $period_start AND ordered_at < $period_end GROUP BY 1 ORDER BY 1", "--as-of", "2026-11-23"]);
    out.expect(0);
    let expected = "\
+-------------+---------+
| customer_id | revenue |
+-------------+---------+
| 1           | 100.00  |
| 2           | 250.50  |
| 3           | 1000.00 |
| 4           | 49.50   |
+-------------+---------+";
    assert!(out.stdout.starts_with(expected), "{}", out.stdout);
    assert!(out.stdout.contains("4 row(s) in "), "{}", out.stdout);
}

#[test]
fn query_reads_project_queries_as_tables_and_writes_csv() {
    let p = TestProject::bundled();
    lake::write(&p.root);
    let out = p.run(&[
        "query",
        "SELECT segment, revenue FROM segment_value WHERE dimension = 'company_size' ORDER BY segment",
        "--job",
        "weekly-leadership",
        "--as-of",
        "2026-11-23",
        "--format",
        "csv",
    ]);
    out.expect(0);
    assert_eq!(out.stdout, "segment,revenue\nEnterprise,1000.00\nSMB,250.50\nSolo,100.00\nUnknown,49.50\n");
}

#[test]
fn query_from_a_file_with_an_explicit_lake() {
    let p = TestProject::new();
    lake::write(&p.root);
    p.file("try.sql", "SELECT COUNT(*) AS n\nFROM customers\n");
    let out = p.run(&["query", "-f", "try.sql", "--lake", "lake", "--format", "json"]);
    out.expect(0);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["rows"][0]["n"], 4);
    let out = p.run(&["query", "SELEC 1", "--lake", "lake"]);
    out.expect(1);
    assert_eq!(out.stderr.trim(), "error: <query>:1:1: SQL syntax error: Expected: an SQL statement, found: SELEC");
}

#[test]
fn hive_partitions_become_columns_and_filter() {
    let p = TestProject::new();
    let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
    for (year, rows) in [("2025", vec![1, 2]), ("2026", vec![10, 20, 30])] {
        let b = RecordBatch::try_new(schema.clone(), vec![Arc::new(Int64Array::from(rows)) as ArrayRef]).unwrap();
        write_parquet(&p.path(&format!("lake/events/year={year}/part-0.parquet")), &b);
    }
    let out = p.run(&[
        "query",
        "SELECT year, COUNT(*) AS rows, SUM(n) AS total FROM events WHERE year = '2026' GROUP BY year",
        "--lake",
        "lake",
        "--format",
        "csv",
    ]);
    out.expect(0);
    assert_eq!(out.stdout, "year,rows,total\n2026,3,60\n");
}

#[test]
fn list_shows_schedules_and_next_runs() {
    let p = TestProject::bundled();
    let out = p.run(&["list"]);
    out.expect(0);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(lines[0].starts_with("JOB                     SCHEDULE      TIME ZONE         PERIOD  NEXT RUN"), "{}", out.stdout);
    assert!(lines[1].starts_with("daily-support-alerts    0 8 * * *     Europe/Amsterdam  day     "), "{}", out.stdout);
    assert!(lines[2].starts_with("monthly-segment-review  0 9 2 * *     Europe/Amsterdam  month   "), "{}", out.stdout);
    assert!(lines[3].starts_with("weekly-account-owners   30 7 * * MON  Europe/Amsterdam  week    Mon "), "{}", out.stdout);
    assert!(lines[3].contains(" 07:30 CE"), "{}", out.stdout);
    assert!(lines[4].starts_with("weekly-leadership       0 7 * * MON   Europe/Amsterdam  week    Mon "), "{}", out.stdout);
    assert!(lines[4].contains(" 07:00 CE"), "{}", out.stdout);
}

#[test]
fn generate_is_deterministic_and_time_ordered() {
    let p = TestProject::new();
    let args = ["generate", "--customers", "300", "--seed", "7", "--until", "2026-11-23", "--years", "2"];
    let a = p.run(&[&args[..], &["--out", "a"]].concat());
    a.expect(0);
    p.run(&[&args[..], &["--out", "b"]].concat()).expect(0);
    for table in [
        "customers/customers.parquet",
        "orders/orders-2026.parquet",
        "tickets/tickets-2025.parquet",
        "subscriptions/subscriptions-2026.parquet",
    ] {
        assert_eq!(
            std::fs::read(p.path(&format!("a/{table}"))).unwrap(),
            std::fs::read(p.path(&format!("b/{table}"))).unwrap(),
            "{table} differs"
        );
    }
    assert!(a.stdout.starts_with("wrote a: 300 customers, "), "{}", a.stdout);
    // Orders are sorted by time within each file, in the file's own row order.
    let file = std::fs::File::open(p.path("a/orders/orders-2026.parquet")).unwrap();
    let reader = datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap().build().unwrap();
    let mut times = Vec::new();
    for b in reader {
        let b = b.unwrap();
        let col = b.column_by_name("ordered_at").unwrap();
        let col = col.as_any().downcast_ref::<datafusion::arrow::array::TimestampMicrosecondArray>().unwrap();
        times.extend(col.values().iter().copied());
    }
    assert!(times.len() > 1000, "{}", times.len());
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "orders are not in time order");
    // Every table has rows.
    let out = p.run(&["query", "SELECT (SELECT COUNT(*) FROM customers) AS c, (SELECT COUNT(*) FROM orders) > 3000 AS many_orders, (SELECT COUNT(*) FROM tickets) > 300 AS tickets, (SELECT COUNT(*) FROM csat) > 0 AS csat, (SELECT COUNT(*) FROM nps) > 0 AS nps, (SELECT COUNT(*) FROM subscriptions) > 0 AS subs", "--lake", "a", "--format", "csv"]);
    out.expect(0);
    assert_eq!(out.stdout, "c,many_orders,tickets,csat,nps,subs\n300,true,true,true,true,true\n");
}

/// A project with the repository's pareto.toml, jobs, queries and templates, as a fresh clone has.
fn repo_copy() -> TestProject {
    let p = TestProject::new();
    std::fs::copy(format!("{REPO}/pareto.toml"), p.path("pareto.toml")).unwrap();
    for d in ["jobs", "queries", "templates"] {
        copy_dir(&std::path::Path::new(REPO).join(d), &p.path(d));
    }
    p
}

#[test]
fn demo_writes_a_report_from_a_fresh_clone() {
    let p = repo_copy();
    let out = p.run(&["demo", "--customers", "400", "--until", "2026-11-23"]);
    out.expect(0);
    // Again: the earlier sample lake is replaced, not mixed with the new one.
    let again = p.run(&["demo", "--customers", "300", "--until", "2026-11-23"]);
    again.expect(0);
    assert!(again.stdout.starts_with(&format!("sample lake: {} (300 customers, ", p.path("demo/lake").display())), "{}", again.stdout);
    let report = p.path("demo/archive/weekly-leadership/2026-W47.preview/report.html");
    assert!(
        out.stdout.contains(&format!("report for weekly-leadership (Mon 16 – Sun 22 Nov 2026): {}", report.display())),
        "{}",
        out.stdout
    );
    // The next commands it prints work as printed, from the project folder, with a shell.
    let next: Vec<&str> = out.stdout.lines().skip_while(|l| !l.starts_with("next, on the same lake")).skip(1).map(str::trim).collect();
    assert_eq!(
        next,
        [
            "PARETO_LAKE=demo/lake pareto check",
            "PARETO_LAKE=demo/lake pareto run weekly-leadership --dry-run --as-of 2026-11-23",
            "PARETO_LAKE=demo/lake pareto query --job weekly-leadership --as-of 2026-11-23 \"SELECT tier, COUNT(*) AS customers FROM value_tiers GROUP BY tier ORDER BY tier\"",
        ]
    );
    let bin_dir = std::path::Path::new(crate::support::BIN).parent().unwrap();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    for command in &next {
        let o = std::process::Command::new("sh")
            .args(["-c", command])
            .current_dir(&p.root)
            .env("PATH", &path)
            .env_remove("PARETO_LAKE")
            .env_remove("PARETO_ARCHIVE")
            .env_remove("PARETO_PROJECT")
            .env_remove("PARETO_LOG")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&o.stdout);
        assert_eq!(o.status.code(), Some(0), "{command}\n{stdout}\n{}", String::from_utf8_lossy(&o.stderr));
        if command.contains("pareto query") {
            assert!(stdout.contains("| tier ") && stdout.contains("| A "), "{stdout}");
        }
    }
    assert!(p.path("archive/weekly-leadership/2026-W47.preview/report.html").is_file());
    let html = std::fs::read_to_string(report).unwrap();
    for section in [
        "Weekly value report",
        "Concentration",
        "Value tiers and their service",
        "Segment value",
        "Top customers",
        "Tier migration",
        "What A customers have in common",
        "Recurring revenue movements",
        "Retention by signup cohort",
        "Exit tier",
    ] {
        assert!(html.contains(section), "{section}");
    }
}

#[test]
fn parameters_have_their_types_anywhere_in_a_query() {
    // Regression: `$period_end_date` inside a function (no column beside it) used to plan as an
    // untyped null and fail.
    let p = TestProject::new();
    lake::write(&p.root);
    let out = p.run(&[
        "query",
        "SELECT date_trunc('month', $period_end_date - INTERVAL '1 day') AS month, $period_end_date - DATE '2026-01-01' AS days, arrow_typeof($period_start) AS t",
        "--lake",
        "lake",
        "--as-of",
        "2026-11-23",
        "--format",
        "csv",
    ]);
    out.expect(0);
    assert_eq!(out.stdout, "month,days,t\n2026-11-01T00:00:00,326,\"Timestamp(µs, \"\"UTC\"\")\"\n");
}

#[test]
fn generate_refuses_a_folder_that_is_not_a_sample_lake() {
    let p = TestProject::new();
    lake::write(&p.root);
    let out = p.run(&["generate", "--out", "lake", "--customers", "10"]);
    out.expect(2);
    assert_eq!(out.stderr.trim(), "error: `lake` is not empty and is not a sample lake pareto wrote; choose an empty or new folder");
    assert!(p.path("lake/orders/part-0.parquet").is_file(), "the real lake is untouched");
}

#[test]
fn an_empty_lake_is_an_error_not_an_empty_report() {
    let p = TestProject::bundled();
    std::fs::create_dir_all(p.path("lake")).unwrap();
    let out = p.run(&["run", "weekly-leadership", "--as-of", "2026-11-23", "--dry-run"]);
    out.expect(1);
    assert_eq!(
        out.stderr.lines().next().unwrap(),
        "error: job `weekly-leadership` failed: lake `lake` has no tables (a table is a folder of .parquet files directly under the lake root); check the job's `lake`"
    );
}

#[test]
fn table_functions_and_folder_names_with_capitals() {
    let p = TestProject::new();
    let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
    let b = RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(vec![1, 2, 3])) as ArrayRef]).unwrap();
    write_parquet(&p.path("lake/Events/part-0.parquet"), &b);
    let out = p.run(&[
        "query",
        "SELECT SUM(e.n) AS total, (SELECT COUNT(*) FROM generate_series(1, 5)) AS five FROM \"Events\" AS e",
        "--lake",
        "lake",
        "--format",
        "csv",
    ]);
    out.expect(0);
    assert_eq!(out.stdout, "total,five\n6,5\n");
}

#[test]
fn plan_shows_the_next_runs_in_the_jobs_time_zone_across_daylight_saving() {
    let p = TestProject::bundled();
    let out = p.run(&["plan", "weekly-leadership", "--from", "2026-03-20", "-n", "3"]);
    out.expect(0);
    assert_eq!(
        out.stdout,
        "weekly-leadership (0 7 * * MON, Europe/Amsterdam, every week)
  Mon 2026-03-23 07:00 CET  covers 2026-W12 (Mon 16 – Sun 22 Mar 2026)
  Mon 2026-03-30 07:00 CEST  covers 2026-W13 (Mon 23 – Sun 29 Mar 2026)
  Mon 2026-04-06 07:00 CEST  covers 2026-W14 (Mon 30 Mar – Sun 5 Apr 2026)
"
    );
}

#[test]
fn the_demo_report_fits_under_gmails_clipping_size() {
    // Gmail clips an HTML part past about 102 KB, hiding the bottom of the report behind a link.
    let p = repo_copy();
    p.run(&["demo", "--until", "2026-11-23"]).expect(0);
    let html = std::fs::read_to_string(p.path("demo/archive/weekly-leadership/2026-W47.preview/report.html")).unwrap();
    assert!(html.len() < 100_000, "the HTML part is {} bytes", html.len());
    // Padding is the tables' cellpadding, alignment and no-wrapping the cells' align and nowrap
    // attributes: not repeated as styles in every cell.
    assert!(html.contains("cellpadding=\"4\"") && html.contains("<td align=\"right\" nowrap style=\"border-bottom:1px solid #eaeef2\">"));
    assert!(!html.contains("text-align:right;padding"), "alignment repeated in cell styles");
    assert!(!html.contains("#eaeef2;white-space:nowrap"), "no-wrapping repeated in cell styles");
}

/// Lay `html` out in headless Chromium at `width` pixels and return the right edge of its widest
/// element (the page scrolls sideways when that is past `width`).
fn right_edge_at(html: &std::path::Path, width: u32) -> u32 {
    let script = "var w=0;document.querySelectorAll('*').forEach(function(e){w=Math.max(w,e.getBoundingClientRect().right);});\
                  document.title='right='+Math.ceil(w);";
    let title = probe(html, width, "probe", script);
    title.strip_prefix("right=").unwrap_or_else(|| panic!("no measure: {title}")).parse().unwrap()
}

/// Open `html` in headless Chromium at `width` pixels and describe its images once the page has
/// loaded: how many, how many loaded, and each one's pixels and shown width.
fn images_at(html: &std::path::Path, width: u32) -> String {
    let script = "window.addEventListener('load',function(){var i=document.images,n=0,s=[];for(var k=0;k<i.length;k++){\
                  if(i[k].complete&&i[k].naturalWidth>0)n++;\
                  s.push(i[k].naturalWidth+'×'+i[k].naturalHeight+' shown '+Math.round(i[k].getBoundingClientRect().width)+' wide');}\
                  document.title=i.length+' images, '+n+' loaded: '+s.join(', ');});";
    probe(html, width, "images", script)
}

/// Run `script` in a copy of `html` (beside it, named `NAME-WIDTH.html`, so its relative links
/// work) laid out `width` pixels wide in headless Chromium, and return the title it sets.
fn probe(html: &std::path::Path, width: u32, name: &str, script: &str) -> String {
    let page = std::fs::read_to_string(html).unwrap();
    let probed = html.with_file_name(format!("{name}-{width}.html"));
    let tag = format!("<script>document.documentElement.style.width='{width}px';{script}</script></body>");
    std::fs::write(&probed, page.replace("</body>", &tag)).unwrap();
    let o = std::process::Command::new("chromium")
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1024,900", "--dump-dom"])
        .arg(format!("file://{}", probed.display()))
        .output()
        .expect("run chromium (Debian's package; .ci/test installs it)");
    let dom = String::from_utf8_lossy(&o.stdout);
    dom.split("<title>").nth(1).and_then(|t| t.split('<').next()).unwrap_or_else(|| panic!("no title in {dom:.300}")).to_string()
}

/// The demo report through the Can I email data (@jsx-email/doiuse-email): nothing Gmail, Apple
/// Mail or Yahoo lack but the `<body>` that webmail replaces, and in Outlook only what degrades
/// without breaking the layout. Flexbox, grid, positioning or background images would fail here.
#[test]
fn the_demo_report_uses_only_what_email_clients_support() {
    let p = repo_copy();
    p.run(&["demo", "--until", "2026-11-23"]).expect(0);
    let report = p.path("demo/archive/weekly-leadership/2026-W47.preview/report.html");
    let modules = std::path::Path::new(crate::support::REPO).join("target/npm/node_modules");
    let o = std::process::Command::new("node")
        .arg(std::path::Path::new(crate::support::REPO).join("tests/it/support/doiuse.js"))
        .arg(&report)
        .args(["gmail.*", "apple-mail.*", "yahoo.*", "outlook.*"])
        .env("NODE_PATH", &modules)
        .output()
        .expect("node (the test set-up installs it)");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let got: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        got,
        serde_json::json!({
            "gmail.*": [],
            "apple-mail.*": [],
            // Yahoo and Outlook's apps replace <body> with a <div>: its background is kept by the
            // outer table.
            "yahoo.*": ["`<body> element`"],
            // Classic Outlook: square corners (border-radius), headings that may wrap (white-space),
            // alert boxes without the 6-pixel gap between them (border-spacing), role ignored.
            "outlook.*": ["`<body> element`", "`border-radius`", "`border-spacing`", "`role attribute`", "`white-space`"],
        })
    );
}

#[test]
fn the_demo_report_fits_a_phone_without_scrolling_sideways() {
    let p = repo_copy();
    p.run(&["demo", "--until", "2026-11-23"]).expect(0);
    let report = p.path("demo/archive/weekly-leadership/2026-W47.preview/report.html");
    // The page is 640 pixels at most and shrinks with the screen; every table fits 375 (large
    // figures shortened, wide tables cut to the columns that matter in the email).
    assert_eq!(right_edge_at(&report, 375), 375);
    assert_eq!(right_edge_at(&report, 640), 640);
    assert_eq!(right_edge_at(&report, 1024), 1024);
    // Every chart loads from the archive's charts/ and shrinks to the phone's width (a headline
    // figure's sparkline to its tile), at twice the pixels it is shown with on a desktop.
    let spark = |w: u32| vec![format!("240×64 shown {w} wide"); 9];
    let charts = |w: u32| vec![format!("960×400 shown {w} wide"); 3];
    assert_eq!(images_at(&report, 375), format!("12 images, 12 loaded: {}", [spark(106), charts(341)].concat().join(", ")));
    assert_eq!(images_at(&report, 640), format!("12 images, 12 loaded: {}", [spark(120), charts(480)].concat().join(", ")));
    // With images blocked nothing is lost: every headline figure is text, and each chart's alt
    // text (which a client shows in its place) is its sentence.
    let html = std::fs::read_to_string(&report).unwrap();
    let mut text_only = String::new();
    let mut alts = Vec::new();
    for (i, piece) in html.split("<img ").enumerate() {
        if i == 0 {
            text_only.push_str(piece);
            continue;
        }
        let (tag, rest) = piece.split_once('>').unwrap();
        alts.push(tag.split(" alt=\"").nth(1).unwrap().split('"').next().unwrap().to_string());
        text_only.push_str(rest);
    }
    for figure in [">€152k<", ">650<", ">€233.67<", ">13<", ">€28.3M<", ">1,147<", ">83<", ">1.0 h<", ">94.7%<"] {
        assert!(text_only.contains(figure), "{figure} is not in the text");
    }
    assert_eq!(alts.len(), 12);
    assert_eq!(alts[0], "Revenue: from €113k to €152k over 12 periods");
    assert!(
        alts[9].starts_with("Cumulative share of lifetime revenue, customers from smallest to largest: the top 20% of customers bring "),
        "{}",
        alts[9]
    );
    assert_eq!(alts[4], "ARR: from €27.2M to €28.3M over 12 periods");
    assert_eq!(alts[8], "CSAT: from 73.1% to 94.7% over 12 periods");
    // And a screenshot at a phone's size is a picture of the report, not a blank page.
    let shot = p.path("phone.png");
    let o = std::process::Command::new("chromium")
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=375,900"])
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", report.display()))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let png = std::fs::read(&shot).unwrap();
    assert_eq!(&png[1..4], b"PNG");
    let (w, h) = (u32::from_be_bytes(png[16..20].try_into().unwrap()), u32::from_be_bytes(png[20..24].try_into().unwrap()));
    assert_eq!((w, h), (375, 900));
    // A blank 375 × 900 page compresses to a few hundred bytes; the report's first screen is text.
    assert!(png.len() > 20_000, "the screenshot is {} bytes: blank?", png.len());
}

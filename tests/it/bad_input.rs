//! Bad input gets one readable message naming the file and what to do, a non-zero exit, and no
//! email.

use crate::support::lake::{self, write_parquet};
use crate::support::smtp::{Options, SmtpServer};
use crate::support::{Out, TestProject, config};
use datafusion::arrow::array::{ArrayRef, Int64Array, StringArray, TimestampMicrosecondArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use std::sync::Arc;

const JOB: &str = r#"name = "daily"
description = "Daily totals"
schedule = "0 6 * * *"
timezone = "Europe/Amsterdam"
period = "day"
queries = ["totals"]
template = "simple"
subject = "Totals {{period.label}}"
to = ["team@example.com"]
"#;

const TOTALS: &str =
    "SELECT COUNT(*) AS orders, SUM(amount) AS revenue\nFROM orders\nWHERE ordered_at >= $period_start AND ordered_at < $period_end\n";

/// A one-query project on the hand-made lake, pointed at a real SMTP server.
fn mini(server: &SmtpServer) -> TestProject {
    let p = TestProject::new();
    p.file("pareto.toml", &config(server.port, ""));
    p.file("jobs/daily.toml", JOB);
    p.file("queries/totals.sql", TOTALS);
    p.file("templates/simple.html.hbs", "<p>{{#each results.totals.rows}}{{orders}} orders, {{currency revenue}}{{/each}}</p>\n");
    p.file("templates/simple.txt.hbs", "{{#each results.totals.rows}}{{orders}} orders, {{currency revenue}}{{/each}}\n");
    lake::write(&p.root);
    p
}

/// Run the daily job for 2026-11-17 (covers 2026-11-16, Amsterdam).
fn run(p: &TestProject) -> Out {
    p.run(&["run", "daily", "--as-of", "2026-11-17"])
}

/// The run failed with `code` and sent nothing (the caller checks the message).
#[track_caller]
fn refused(out: &Out, server: &SmtpServer, code: i32) {
    out.expect(code);
    assert!(server.received().is_empty(), "an email went out");
}

/// The run failed with `code`, printed `message` as its error, and sent nothing.
#[track_caller]
fn fails(out: &Out, server: &SmtpServer, code: i32, message: &str) {
    out.expect(code);
    let first = out.stderr.lines().next().unwrap_or_default();
    assert_eq!(first, message, "\n--- stderr\n{}", out.stderr);
    assert!(server.received().is_empty(), "an email went out");
}

#[test]
fn the_mini_project_works() {
    let server = SmtpServer::start(Options::default());
    let p = mini(&server);
    run(&p).expect(0);
    // 2026-11-16 in Amsterdam: orders 107 (49.50, at its first instant) and 101 (100.00).
    assert_eq!(p.read("archive/daily/2026-11-16/report.txt"), "2 orders, €150\n");
    assert_eq!(server.received().len(), 1);
}

#[test]
fn missing_lake_folder() {
    let server = SmtpServer::start(Options::default());
    let p = mini(&server);
    p.file("jobs/daily.toml", &format!("{JOB}lake = \"nowhere\"\n"));
    fails(
        &run(&p),
        &server,
        1,
        "error: job `daily` failed: lake folder `nowhere` does not exist; create it (`pareto generate --out nowhere` writes a sample lake) or fix the job's `lake`",
    );
}

#[test]
fn missing_table() {
    let server = SmtpServer::start(Options::default());
    let p = mini(&server);
    p.file("queries/totals.sql", "SELECT COUNT(*) AS orders, 0 AS revenue\nFROM refunds\n");
    fails(
        &run(&p),
        &server,
        1,
        "error: job `daily` failed: queries/totals.sql:2:6: table `refunds` is neither a table in the lake `lake` nor a query in queries/ (there are: `csat`, `customers`, `nps`, `orders`, `service_levels`, `subscriptions`, `tickets`, `totals`)",
    );
}

#[test]
fn truncated_parquet_file_is_named() {
    let server = SmtpServer::start(Options::default());
    let p = mini(&server);
    let f = p.path("lake/orders/part-1.parquet");
    let bytes = std::fs::read(&f).unwrap();
    std::fs::write(&f, &bytes[..bytes.len() / 2]).unwrap();
    let out = run(&p);
    refused(&out, &server, 1);
    assert!(
        out.stderr
            .starts_with("error: job `daily` failed: lake table `orders`: `lake/orders/part-1.parquet` is not a readable Parquet file ("),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("); replace or remove that file"), "{}", out.stderr);
}

#[test]
fn a_file_that_is_not_parquet_is_named() {
    let server = SmtpServer::start(Options::default());
    let p = mini(&server);
    p.file("lake/orders/notes.parquet", "these are not the rows you are looking for\n");
    let out = run(&p);
    out.expect(1);
    assert!(
        out.stderr
            .starts_with("error: job `daily` failed: lake table `orders`: `lake/orders/notes.parquet` is not a readable Parquet file ("),
        "{}",
        out.stderr
    );
    assert!(server.received().is_empty());
}

fn orders_with(amount: (&str, DataType, ArrayRef)) -> RecordBatch {
    let ts = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let mut fields = vec![
        Field::new("order_id", DataType::Int64, false),
        Field::new("customer_id", DataType::Int64, false),
        Field::new("ordered_at", ts, false),
    ];
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(vec![1])),
        Arc::new(Int64Array::from(vec![1])),
        Arc::new(TimestampMicrosecondArray::from(vec![lake::micros("2026-11-16T09:00:00Z")]).with_timezone("UTC")),
    ];
    if !amount.0.is_empty() {
        fields.push(Field::new(amount.0, amount.1, false));
        cols.push(amount.2);
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).unwrap()
}

#[test]
fn a_missing_contract_column() {
    let server = SmtpServer::start(Options::default());
    let p = mini(&server);
    std::fs::remove_dir_all(p.path("lake/orders")).unwrap();
    write_parquet(&p.path("lake/orders/o.parquet"), &orders_with(("", DataType::Null, Arc::new(Int64Array::from(vec![1])))));
    fails(
        &run(&p),
        &server,
        1,
        "error: job `daily` failed: lake table `orders` breaks the data contract: table `orders` has no column `amount` (a number (integer, float or decimal)), which the data contract requires; add it to the files or rename the column that holds it",
    );
}

#[test]
fn a_contract_column_of_the_wrong_type() {
    let server = SmtpServer::start(Options::default());
    let p = mini(&server);
    std::fs::remove_dir_all(p.path("lake/orders")).unwrap();
    write_parquet(&p.path("lake/orders/o.parquet"), &orders_with(("amount", DataType::Utf8, Arc::new(StringArray::from(vec!["12.50"])))));
    fails(
        &run(&p),
        &server,
        1,
        "error: job `daily` failed: lake table `orders` breaks the data contract: column `orders.amount` holds text (Utf8View), but the data contract needs a number (integer, float or decimal); fix the writer or cast it when exporting",
    );
}

#[test]
fn sql_syntax_error_names_line_and_column() {
    let server = SmtpServer::start(Options::default());
    let p = mini(&server);
    p.file("queries/totals.sql", "SELECT COUNT(*) AS orders,\n       SUM(amount) AS revenue\nFROM orders\nWHERE ordered_at >= $period_start AND AND ordered_at < $period_end\n");
    fails(
        &run(&p),
        &server,
        1,
        "error: job `daily` failed: queries/totals.sql:4:43: SQL syntax error: Expected: end of statement, found: ordered_at",
    );
}

#[test]
fn unknown_column_is_named() {
    let server = SmtpServer::start(Options::default());
    let p = mini(&server);
    p.file("queries/totals.sql", "SELECT COUNT(*) AS orders, SUM(amount) AS revenue\nFROM orders\nWHERE orderd_at >= $period_start\n");
    let out = run(&p);
    refused(&out, &server, 1);
    assert!(out.stderr.starts_with("error: job `daily` failed: queries/totals.sql:3:7: "), "{}", out.stderr);
    assert!(out.stderr.contains("orderd_at"), "{}", out.stderr);
}

#[test]
fn unknown_parameter() {
    let server = SmtpServer::start(Options::default());
    let p = mini(&server);
    p.file("queries/totals.sql", "SELECT COUNT(*) AS orders, SUM(amount) AS revenue\nFROM orders\nWHERE amount > $min_amount\n");
    let out = run(&p);
    refused(&out, &server, 1);
    assert!(
        out.stderr.starts_with("error: job `daily` failed: queries/totals.sql:3:16: unknown parameter `$min_amount`; add `min_amount = …` under `[params]` in the job file, or use one of: $as_of, $as_of_date, "),
        "{}",
        out.stderr
    );
}

#[test]
fn job_params_are_bound_typed() {
    let server = SmtpServer::start(Options::default());
    let p = mini(&server);
    p.file("jobs/daily.toml", &format!("{JOB}\n[params]\nmin_amount = 90\nchannel = \"web\"\nsince = 2026-01-01\n"));
    p.file(
        "queries/totals.sql",
        "SELECT COUNT(*) AS orders, SUM(amount) AS revenue\nFROM orders\nWHERE amount > $min_amount AND channel = $channel AND ordered_at >= $since\n",
    );
    p.run(&["run", "daily", "--as-of", "2026-11-17", "--dry-run"]).expect(0);
    // Orders over 90 on the web since 2026: 101 (100.00) only.
    assert_eq!(p.read("archive/daily/2026-11-16.preview/report.txt"), "1 orders, €100\n");
}

#[test]
fn queries_read_each_other_and_cycles_are_refused() {
    let server = SmtpServer::start(Options::default());
    let p = mini(&server);
    p.file("queries/totals.sql", "SELECT COUNT(*) AS orders, SUM(revenue) AS revenue FROM big_orders\n");
    p.file("queries/big_orders.sql", "SELECT amount AS revenue FROM orders WHERE amount >= 100\n");
    p.run(&["run", "daily", "--as-of", "2026-11-17", "--dry-run"]).expect(0);
    // 100.00, 250.50, 1000.00, 999.00 are at least 100: four orders.
    assert_eq!(p.read("archive/daily/2026-11-16.preview/report.txt"), "4 orders, €2,350\n");

    p.file("queries/big_orders.sql", "SELECT * FROM totals\n");
    fails(
        &run(&p),
        &server,
        1,
        "error: job `daily` failed: queries/big_orders.sql: queries read each other in a cycle: big_orders → totals → big_orders; break it by moving the shared part into its own query",
    );
}

#[test]
fn unknown_helper() {
    let server = SmtpServer::start(Options::default());
    let p = mini(&server);
    p.file("templates/simple.html.hbs", "<p>\n{{money results.totals.rows.[0].revenue}}</p>\n");
    fails(
        &run(&p),
        &server,
        1,
        "error: job `daily` failed: templates/simple.html.hbs:2:1: unknown helper `money`; pareto's helpers are number, currency, percent, delta, date, table, chart (plus Handlebars' own: if, unless, each, with, lookup, eq, ne, gt, lt, and, or, not, len)",
    );
}

#[test]
fn missing_partial() {
    let server = SmtpServer::start(Options::default());
    let p = mini(&server);
    p.file("templates/simple.html.hbs", "{{> header}}\n<p>hi</p>\n");
    fails(
        &run(&p),
        &server,
        1,
        "error: job `daily` failed: templates/simple.html.hbs:1:1: partial `header` not found: there is no templates/header.html.hbs, header.txt.hbs or header.hbs",
    );
}

#[test]
fn a_field_the_data_lacks_in_strict_mode() {
    let server = SmtpServer::start(Options::default());
    let p = mini(&server);
    p.file("templates/simple.txt.hbs", "{{results.totals.rows.[0].revenu}}\n");
    fails(
        &run(&p),
        &server,
        1,
        "error: job `daily` failed: templates/simple.txt.hbs:1:1: `results.totals.rows.[0].revenu` is not in the report's data (strict mode); check the query and column names, or guard it with {{#if}}",
    );
}

#[test]
fn template_syntax_error() {
    let server = SmtpServer::start(Options::default());
    let p = mini(&server);
    p.file("templates/simple.html.hbs", "<p>\n{{#each results.totals.rows}}\n</p>\n");
    let out = run(&p);
    refused(&out, &server, 1);
    assert!(out.stderr.starts_with("error: job `daily` failed: templates/simple.html.hbs:"), "{}", out.stderr);
    assert!(out.stderr.contains("template syntax"), "{}", out.stderr);
}

#[test]
fn an_invalid_address_names_file_and_line() {
    let server = SmtpServer::start(Options::default());
    let p = mini(&server);
    p.file("jobs/daily.toml", &JOB.replace("to = [\"team@example.com\"]", "to = [\"team@example.com\", \"not an address\"]"));
    fails(
        &run(&p),
        &server,
        2,
        "error: jobs/daily.toml:9:27: `to`: `not an address` is not an email address (Invalid input); write `name@example.com` or `Name <name@example.com>`",
    );
}

#[test]
fn an_unknown_key_names_file_and_line() {
    let server = SmtpServer::start(Options::default());
    let p = mini(&server);
    p.file("jobs/daily.toml", &JOB.replace("period = \"day\"", "period = \"day\"\nrecipients = [\"x@example.com\"]"));
    let out = run(&p);
    refused(&out, &server, 2);
    assert!(out.stderr.starts_with("error: jobs/daily.toml:6:1: unknown field `recipients`, expected one of "), "{}", out.stderr);
}

#[test]
fn a_bad_period_and_time_zone() {
    let server = SmtpServer::start(Options::default());
    let p = mini(&server);
    p.file("jobs/daily.toml", &JOB.replace("period = \"day\"", "period = \"fortnight\""));
    let out = run(&p);
    refused(&out, &server, 2);
    assert!(
        out.stderr.starts_with(
            "error: jobs/daily.toml:5:10: unknown variant `fortnight`, expected one of `day`, `week`, `month`, `quarter`, `hour`, `minute`"
        ),
        "{}",
        out.stderr
    );
    p.file("jobs/daily.toml", &JOB.replace("Europe/Amsterdam", "Europe/Amsterdamm"));
    fails(
        &run(&p),
        &server,
        2,
        "error: jobs/daily.toml:4:12: `timezone`: `Europe/Amsterdamm` is not an IANA time zone name such as `Europe/Amsterdam` or `America/New_York`",
    );
}

#[test]
fn an_unknown_job() {
    let server = SmtpServer::start(Options::default());
    let p = mini(&server);
    let out = p.run(&["run", "dialy"]);
    fails(&out, &server, 2, &format!("error: no job `dialy` in {}/jobs; did you mean `daily`?", p.root.display()));
}

#[test]
fn a_bad_as_of() {
    let server = SmtpServer::start(Options::default());
    let p = mini(&server);
    let out = p.run(&["run", "daily", "--as-of", "yesterday"]);
    fails(
        &out,
        &server,
        2,
        "error: --as-of: `yesterday` is not a date or time; use `2026-11-23`, `2026-11-23T07:00` (in the job's time zone) or `2026-11-23T06:00:00Z`",
    );
}

#[test]
fn no_sender_configured() {
    let server = SmtpServer::start(Options::default());
    let p = mini(&server);
    p.file("pareto.toml", &config(server.port, "").replace("from = \"Pareto Reports <reports@example.com>\"\n", ""));
    fails(
        &run(&p),
        &server,
        2,
        "error: job `daily` failed: no sender: set `from = \"Reports <reports@example.com>\"` in pareto.toml or PARETO_FROM",
    );
}

#[test]
fn a_helper_given_a_field_the_data_lacks_in_strict_mode() {
    let server = SmtpServer::start(Options::default());
    let p = mini(&server);
    p.file("templates/simple.txt.hbs", "{{#each results.totals.rows}}{{currency revenu}}{{/each}}\n");
    fails(
        &run(&p),
        &server,
        1,
        "error: job `daily` failed: templates/simple.txt.hbs:1:30: `revenu` is not in the report's data (strict mode); check the query and column names, or guard it with {{#if}}",
    );
}

#[test]
fn a_query_name_with_a_double_underscore_is_refused() {
    let server = SmtpServer::start(Options::default());
    let p = mini(&server);
    p.file("queries/tot__als.sql", "SELECT 1 AS one\n");
    let out = p.run(&["check"]);
    out.expect(2);
    assert!(
        out.stdout.starts_with("queries/tot__als.sql: `tot__als`: a query name may not contain `__` (`name__prev` means a query's result for the previous period; a file `name__prev.sql` defines it)"),
        "{}",
        out.stdout
    );
}

#[test]
fn a_bad_catch_up_and_daemon_settings() {
    let server = SmtpServer::start(Options::default());
    let p = mini(&server);
    p.file("jobs/daily.toml", &format!("{JOB}catch_up = \"all\"\n"));
    fails(
        &run(&p),
        &server,
        2,
        "error: jobs/daily.toml:10:12: `catch_up`: `\"all\"` is not `none`, `latest` or a number of periods such as `3`",
    );
    p.file("jobs/daily.toml", JOB);
    p.file("pareto.toml", &format!("{}\n[serve]\nstatus = \"0.0.0.0:9187\"\nmax_attempts = 0\n", config(server.port, "")));
    let out = p.run(&["serve"]);
    out.expect(2);
    assert_eq!(
        out.stderr,
        "error: pareto.toml: `serve.status`: `0.0.0.0:9187` is not a loopback address: the status endpoint listens on 127.0.0.1 or ::1 only (put a proxy in front to publish it)\n\
         error: pareto.toml: `serve.max_attempts`: must be at least 1\n"
    );
    assert!(!p.path("state").exists(), "nothing was started");
}

#[test]
fn bad_memory_settings_and_datafusion_variables_are_named() {
    let server = SmtpServer::start(Options::default());
    let mut p = mini(&server);
    p.file("pareto.toml", &format!("{}\n[lake]\nmemory_limit = \"lots\"\nparallel_queries = 0\n", config(server.port, "")));
    let out = run(&p);
    refused(&out, &server, 2);
    assert_eq!(
        out.stderr,
        "error: pareto.toml: `lake.memory_limit`: `lots` is not a size such as \"1GiB\", \"512MiB\" or \"2GB\"\n\
         error: pareto.toml: `lake.parallel_queries`: must be at least 1\n"
    );
    p.file("pareto.toml", &config(server.port, ""));
    p.env("PARETO_MEMORY_LIMIT", "1MiB");
    fails(&run(&p), &server, 2, "error: pareto.toml: `lake.memory_limit`: `1MiB` is less than 16MiB, too little for any query");
    p.env("PARETO_MEMORY_LIMIT", "64MiB");
    p.env("DATAFUSION_EXECUTION_TARGET_PARTITIONS", "two");
    fails(
        &run(&p),
        &server,
        2,
        "error: `DATAFUSION_EXECUTION_TARGET_PARTITIONS` (datafusion.execution.target_partitions): Error parsing 'two' as usize; fix or unset it",
    );
    // A good one is used, and the report is the same.
    p.env("DATAFUSION_EXECUTION_TARGET_PARTITIONS", "3");
    run(&p).expect(0);
    assert_eq!(server.received().len(), 1);
}

#[test]
fn two_files_of_one_table_with_different_column_types_are_both_named() {
    let server = SmtpServer::start(Options::default());
    let p = mini(&server);
    write_parquet(
        &p.path("lake/orders/part-2.parquet"),
        &orders_with(("amount", DataType::Utf8, Arc::new(StringArray::from(vec!["12.50"])))),
    );
    fails(
        &run(&p),
        &server,
        1,
        "error: job `daily` failed: lake table `orders`: column `amount` is decimal (Decimal128(18, 2)) in `lake/orders/part-0.parquet` but text (Utf8View) in `lake/orders/part-2.parquet`; write every file of a table with the same column types (or cast when exporting)",
    );
}

#[test]
fn a_zero_byte_parquet_file_is_left_out_with_a_warning() {
    let server = SmtpServer::start(Options::default());
    let p = mini(&server);
    p.file("lake/orders/part-0-empty.parquet", "");
    let out = run(&p);
    out.expect(0);
    assert!(
        out.stderr.contains(
            "lake table `orders`: `lake/orders/part-0-empty.parquet` is empty (0 bytes) and was left out; remove it or write it again"
        ),
        "{}",
        out.stderr
    );
    assert_eq!(p.read("archive/daily/2026-11-16/report.txt"), "2 orders, €150\n");
}

#[test]
fn an_engine_that_is_not_embedded_or_a_scheduler_address_is_named_where_it_is_written() {
    let server = SmtpServer::start(Options::default());
    let mut p = mini(&server);
    // `[defaults] engine` (config() ends inside `[defaults]`).
    p.file("pareto.toml", &format!("{}engine = \"spark://10.0.0.5:7077\"\n", config(server.port, "")));
    let out = run(&p);
    refused(&out, &server, 2);
    assert_eq!(
        out.stderr,
        "error: pareto.toml: `defaults.engine`: `spark://10.0.0.5:7077` is not `embedded` or a scheduler address such as `ballista://10.0.0.5:50050`\n"
    );
    // PARETO_ENGINE, over every job.
    p.file("pareto.toml", &config(server.port, ""));
    p.env("PARETO_ENGINE", "ballista://");
    fails(
        &run(&p),
        &server,
        2,
        "error: pareto.toml: `PARETO_ENGINE`: `ballista://` is not `embedded` or a scheduler address such as `ballista://10.0.0.5:50050`",
    );
}

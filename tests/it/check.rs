//! `pareto check`: every problem in every file, with file and line, before anything runs.

use crate::support::{TestProject, lake};

#[test]
fn the_bundled_project_checks_out() {
    let p = TestProject::bundled();
    lake::write(&p.root);
    let out = p.run(&["check"]);
    out.expect(0);
    // The hand-made lake has no `owners`: the owners' report has no one to send to, and says so.
    assert_eq!(
        out.stdout.trim(),
        "note: jobs/weekly-account-owners.toml: sends nothing on this lake: its burst query `account_owners` is off (the lake `lake` has no table `owners`)\n\
         ok: 4 job(s), 43 query file(s) and their templates check out"
    );
}

#[test]
fn check_lists_every_problem_not_just_the_first() {
    let p = TestProject::new();
    lake::write(&p.root);
    // A job file with a bad schedule and an unknown query, another with a misspelt key, a job whose
    // queries have a syntax error, a missing table and a misspelt column, and a template that calls
    // an unknown helper.
    p.file("jobs/broken.toml", "name = \"broken\"\nschedule = \"0 7 * *\"\nperiod = \"week\"\nqueries = [\"nope\"]\ntemplate = \"second\"\nsubject = \"x\"\nto = [\"a@example.com\"]\n");
    p.file("jobs/typo.toml", "name = \"typo\"\nschedul = \"0 7 * * *\"\n");
    p.file(
        "jobs/second.toml",
        "name = \"second\"\nschedule = \"0 7 * * *\"\nperiod = \"day\"\nqueries = [\"syntax\", \"missing_table\", \"bad_column\"]\ntemplate = \"second\"\nsubject = \"x\"\nto = [\"a@example.com\"]\n",
    );
    p.file("queries/syntax.sql", "SELECT 1 AS one\nFROM orders\nWHERE\n");
    p.file("queries/missing_table.sql", "SELECT * FROM refunds\n");
    p.file("queries/bad_column.sql", "SELECT amout FROM orders\n");
    p.file("templates/second.html.hbs", "{{money 1}}\n");
    p.file("templates/second.txt.hbs", "text\n");
    let out = p.run(&["check"]);
    out.expect(2);
    assert_eq!(
        out.stdout,
        "\
jobs/broken.toml:2:12: `schedule`: `0 7 * *` is not a cron expression (Invalid pattern: Pattern must have between 5 and 7 fields.); write e.g. `0 7 * * MON` (minute hour day-of-month month day-of-week)
jobs/broken.toml:4:12: `queries`: there is no queries/nope.sql (there are: `bad_column`, `missing_table`, `syntax`)
jobs/typo.toml:2:1: unknown field `schedul`, expected one of `name`, `description`, `schedule`, `timezone`, `period`, `lake`, `engine`, `queries`, `template`, `subject`, `to`, `cc`, `bcc`, `owners`, `attach`, `attach_max_rows`, `currency`, `params`, `scoring`, `inherit`, `require_fresh`, `send_if`, `catch_up`, `alert`, `service_levels`, `prediction`, `burst`
queries/bad_column.sql:1:8: Schema error: No field named amout. Did you mean 'orders.amount'?
Valid fields are orders.order_id, orders.customer_id, orders.ordered_at, orders.amount, orders.cost, orders.channel.
queries/missing_table.sql:1:15: table `refunds` is neither a table in the lake `lake` nor a query in queries/ (there are: `bad_column`, `csat`, `customers`, `missing_table`, `nps`, `orders`, `service_levels`, `subscriptions`, `syntax`, `tickets`)
queries/syntax.sql: SQL syntax error: Expected: an expression, found: EOF
templates/second.html.hbs:1:1: unknown helper `money`; pareto's helpers are number, currency, percent, delta, date, table, chart (plus Handlebars' own: if, unless, each, with, lookup, eq, ne, gt, lt, and, or, not, len)
7 problem(s) found
"
    );
}

#[test]
fn check_says_which_sections_will_be_off() {
    let p = TestProject::new();
    lake::write(&p.root);
    std::fs::remove_dir_all(p.path("lake/subscriptions")).unwrap();
    p.file("jobs/mrr.toml", "name = \"mrr\"\nschedule = \"0 7 * * *\"\nperiod = \"month\"\nqueries = [\"mrr\", \"facts\"]\ntemplate = \"mrr\"\nsubject = \"x\"\nto = [\"a@example.com\"]\n");
    p.file("queries/mrr.sql", "SELECT SUM(mrr) AS mrr FROM subscriptions\n");
    p.file("queries/facts.sql", "-- pareto: optional subscriptions\nSELECT c.customer_id, COALESCE(SUM(s.mrr), 0) AS mrr FROM customers c LEFT JOIN subscriptions s USING (customer_id) GROUP BY 1 ORDER BY 1\n");
    p.file("templates/mrr.html.hbs", "{{table results.mrr}}{{table results.facts}}\n");
    p.file("templates/mrr.txt.hbs", "{{table results.mrr}}{{#each missing_tables}}missing: {{this}}{{/each}}\n");
    let out = p.run(&["check"]);
    out.expect(0);
    assert_eq!(
        out.stdout,
        "note: jobs/mrr.toml: the lake has no table `subscriptions`; queries that can do without it read it as empty
note: jobs/mrr.toml: `mrr` will be off (its report section says so): the lake `lake` has no table `subscriptions`
ok: 1 job(s), 2 query file(s) and their templates check out
"
    );
    p.run(&["run", "mrr", "--as-of", "2026-11-23", "--dry-run"]).expect(0);
    assert_eq!(
        p.read("archive/mrr/2026-10.preview/report.txt"),
        "Not available: the lake `lake` has no table `subscriptions`.\nmissing: subscriptions\n"
    );
    let facts = p.result("archive/mrr/2026-10.preview/results", "facts");
    let mrr: Vec<(i64, &str)> =
        facts["rows"].as_array().unwrap().iter().map(|r| (r["customer_id"].as_i64().unwrap(), r["mrr"].as_str().unwrap())).collect();
    assert_eq!(mrr, vec![(1, "0.00"), (2, "0.00"), (3, "0.00"), (4, "0.00")]);
}

#[test]
fn check_plans_against_real_schemas_and_finds_template_mistakes() {
    let p = TestProject::bundled();
    lake::write(&p.root);
    p.file(
        "queries/top_customers.sql",
        &p.read("queries/top_customers.sql").replace("SUM(o.amount)  AS revenue", "SUM(o.amout)  AS revenue"),
    );
    let out = p.run(&["check", "weekly-leadership"]);
    out.expect(2);
    assert!(out.stdout.lines().next().unwrap().starts_with("queries/top_customers.sql:"), "{}", out.stdout);
    assert!(out.stdout.contains("amout"), "{}", out.stdout);

    let p = TestProject::bundled();
    lake::write(&p.root);
    p.file(
        "templates/weekly-leadership.html.hbs",
        &p.read("templates/weekly-leadership.html.hbs").replace("{{table results.top_customers", "{{tabel results.top_customers"),
    );
    let out = p.run(&["check"]);
    out.expect(2);
    assert!(out.stdout.contains("templates/weekly-leadership.html.hbs:"), "{}", out.stdout);
    assert!(out.stdout.contains("unknown helper `tabel`"), "{}", out.stdout);
}

#[test]
fn declared_formats_win_over_guesses_and_check_names_bad_ones() {
    let p = TestProject::new();
    lake::write(&p.root);
    p.file("jobs/fmt.toml", "name = \"fmt\"\nschedule = \"0 7 * * *\"\nperiod = \"month\"\nqueries = [\"fmt\"]\ntemplate = \"fmt\"\nsubject = \"x\"\nto = [\"a@example.com\"]\n");
    // Each of these names would be guessed wrong: `csat_score` as a percentage (it is a mean
    // score out of 5), `happy` as a plain number (it is a share), `revenue_rank` as money.
    p.file(
        "queries/fmt.sql",
        "-- pareto: format csat_score=number:2 happy=percent:0\n-- pareto: format revenue_rank=count growth_pp=points\n\
         SELECT 4.25 AS csat_score, 0.875 AS happy, 3 AS revenue_rank, 6.25 AS growth_pp, 0.5 AS csat, 12345678.9 AS big\n",
    );
    // The HTML table shows a column of large figures in three significant digits, and so do the
    // helpers with `short=true`; the text table keeps every digit.
    p.file("templates/fmt.html.hbs", "{{table results.fmt}}\n{{#with results.fmt.rows.[0]}}{{currency big short=true}} {{number big short=true}} {{currency revenue_rank short=true}}{{/with}}\n");
    p.file("templates/fmt.txt.hbs", "{{table results.fmt}}\n");
    p.run(&["check"]).expect(0);
    p.run(&["run", "fmt", "--as-of", "2026-11-23", "--dry-run"]).expect(0);
    assert_eq!(
        p.read("archive/fmt/2026-10.preview/report.txt"),
        "CSAT score  Happy  Revenue rank  Growth pp   CSAT         Big\n\
         ----------  -----  ------------  ---------  -----  ----------\n      \
               4.25    88%             3    +6.3 pp  50.0%  12,345,679\n\n"
    );
    let html = p.read("archive/fmt/2026-10.preview/report.html");
    assert!(html.contains(">12.3M</td></tr>"), "{html}");
    assert!(html.ends_with("</table>\n€12.3M 12.3M €3\n"), "{html}");

    // A word that is not a format, a pair without `=`, decimals out of range, and a column the
    // query does not return: every one, with its line.
    p.file("queries/fmt.sql", "SELECT 1 AS a,\n-- pareto: format a=percentage b\n  2 AS b\n-- pareto: format c=count a=number:9\n");
    let out = p.run(&["check"]);
    out.expect(2);
    assert_eq!(
        out.stdout,
        "\
queries/fmt.sql:2:1: `-- pareto: format`: `percentage` is not a format; use one of text, count, number, money, percent, change, points, date, month
queries/fmt.sql:2:1: `-- pareto: format`: `b`: write `column=format`, like `csat=percent`
queries/fmt.sql:4:1: `-- pareto: format`: `number:9`: the decimals after `:` must be a whole number from 0 to 6
queries/fmt.sql:4:1: `-- pareto: format` names `c`, which `fmt` does not return (it returns: a, b)
4 problem(s) found
"
    );
}

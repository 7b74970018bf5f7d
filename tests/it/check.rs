//! `pareto check`: every problem in every file, with file and line, before anything runs.

use crate::support::{TestProject, lake};

#[test]
fn the_bundled_project_checks_out() {
    let p = TestProject::bundled();
    lake::write(&p.root);
    let out = p.run(&["check"]);
    out.expect(0);
    assert_eq!(out.stdout.trim(), "ok: 1 job(s), 4 query file(s) and their templates check out");
}

#[test]
fn check_lists_every_problem_not_just_the_first() {
    let p = TestProject::bundled();
    lake::write(&p.root);
    // A job file with a bad key, another with a bad schedule and an unknown query, a query with a
    // syntax error, one reading a missing table, one with a misspelt column, and a template that
    // calls an unknown helper.
    p.file("jobs/broken.toml", "name = \"broken\"\nschedule = \"0 7 * *\"\nperiod = \"week\"\nqueries = [\"nope\"]\ntemplate = \"weekly-leadership\"\nsubject = \"x\"\nto = [\"a@example.com\"]\n");
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
jobs/broken.toml:4:12: `queries`: there is no queries/nope.sql (there are: `bad_column`, `customer_facts`, `headline`, `missing_table`, `revenue_by_size`, `syntax`, `top_customers`)
jobs/typo.toml:2:1: unknown field `schedul`, expected one of `name`, `description`, `schedule`, `timezone`, `period`, `lake`, `queries`, `template`, `subject`, `to`, `cc`, `bcc`, `owners`, `attach`, `currency`, `params`
queries/bad_column.sql:1:8: Schema error: No field named amout. Did you mean 'orders.amount'?
Valid fields are orders.order_id, orders.customer_id, orders.ordered_at, orders.amount, orders.cost, orders.channel.
queries/missing_table.sql:1:15: table `refunds` is neither a table in the lake `lake` nor a query in queries/ (there are: `bad_column`, `customer_facts`, `customers`, `headline`, `missing_table`, `orders`, `revenue_by_size`, `syntax`, `top_customers`)
queries/syntax.sql: SQL syntax error: Expected: an expression, found: EOF
templates/second.html.hbs:1:1: unknown helper `money`; pareto's helpers are number, currency, percent, delta, date, table (plus Handlebars' own: if, unless, each, with, lookup, eq, ne, gt, lt, and, or, not, len)
7 problem(s) found
"
    );
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

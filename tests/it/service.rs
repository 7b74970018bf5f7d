//! Support analytics, alerts and the data-health gate, on the hand-made lake (support/lake.rs),
//! every figure worked out by hand; and the three bundled jobs against the real SMTP server.
//!
//! Week 2026-W47. Value tiers this week: Acme B, Globex C, Initech B, Umbrella Exit; customer 99
//! is unknown. Tickets created this week: 201, 202, 203, 204, 207; solved this week (and validly):
//! 201 (10 h), 202 (24 h), 205 (144 h) — 207 was "solved" before it was created, which is bad data.

use crate::support::smtp::{Options, SmtpServer};
use crate::support::{REPO, TestProject, config, lake, same};
use mail_parser::{MessageParser, MimeHeaders};
use serde_json::{Value, json};

fn project() -> TestProject {
    let p = TestProject::bundled();
    lake::write(&p.root);
    p
}

fn rows(p: &TestProject, dir: &str, query: &str) -> Vec<Value> {
    let v = p.result(&format!("archive/{dir}/results"), query);
    v["rows"].as_array().unwrap().clone()
}

fn find<'a>(rows: &'a [Value], dimension: &str, segment: &str) -> &'a Value {
    rows.iter().find(|r| r["dimension"] == dimension && r["segment"] == segment).unwrap_or_else(|| panic!("{dimension}/{segment}"))
}

const WEEK: f64 = 7.0 / 30.4375;

#[test]
fn support_kpis_per_segment() {
    let p = project();
    p.run(&["run", "weekly-leadership", "--as-of", "2026-11-23T07:00", "--dry-run"]).expect(0);
    let k = rows(&p, "weekly-leadership/2026-W47.preview", "support_kpis");
    // All: first replies 1, 2, 4 h → median 2, p90 2 + 0.8·(4 − 2); resolutions 10, 24, 144 h →
    // median 24, p90 24 + 0.8·120; the week before: replies 6 and 3 h, one resolution of 5 h.
    same(
        find(&k, "All", "All"),
        json!({
            "customers": 4, "tickets": 5, "prev_tickets": 2, "requests_per_customer_month": 5.0 / 4.0 / WEEK,
            "first_reply_median_h": 2.0, "first_reply_p90_h": 3.6, "prev_first_reply_median_h": 4.5, "unanswered": 2,
            "resolution_median_h": 24.0, "resolution_p90_h": 120.0, "prev_resolution_median_h": 5.0,
            "touches": 3.0, "reopen_rate": 1.0 / 3.0, "escalation_rate": 0.2,
            "csat_responses": 3, "csat": 2.0 / 3.0, "csat_low_sample": true, "prev_csat": 1.0,
            "nps_responses": 3, "nps": 0.0, "prev_nps": 100.0, "sentiment": 0.0,
        }),
    );
    // Tier B is Acme and Initech; the rating of Acme's ticket from the week before counts this week.
    same(
        find(&k, "value_tier", "B"),
        json!({
            "customers": 2, "tickets": 2, "prev_tickets": 1, "requests_per_customer_month": 1.0 / WEEK,
            "first_reply_median_h": 1.5, "first_reply_p90_h": 1.9, "unanswered": 0,
            "resolution_median_h": 77.0, "resolution_p90_h": 130.6, "touches": 2.5, "reopen_rate": 0.0, "escalation_rate": 0.0,
            "csat_responses": 2, "csat": 1.0, "nps": 50.0,
        }),
    );
    same(
        find(&k, "value_tier", "C"),
        json!({
            "customers": 1, "tickets": 2, "first_reply_median_h": 4.0, "unanswered": 1, "resolution_median_h": 24.0,
            "touches": 4.0, "reopen_rate": 1.0, "escalation_rate": 0.5, "csat": 0.0, "csat_responses": 1, "nps": -100.0,
        }),
    );
    // Umbrella (Exit) wrote in only the week before: no figure this week is "–", never 0.
    same(
        find(&k, "value_tier", "Exit"),
        json!({
            "customers": 1, "tickets": 0, "prev_tickets": 1, "first_reply_median_h": null, "resolution_median_h": null,
            "csat": null, "prev_csat": 1.0, "nps": null, "prev_nps": 100.0, "escalation_rate": null,
        }),
    );
    // The unknown customer's ticket: counted, but its bad resolution time is not.
    same(
        find(&k, "value_tier", "Unknown"),
        json!({"customers": 0, "tickets": 1, "unanswered": 1, "resolution_median_h": null, "requests_per_customer_month": null}),
    );
    same(
        find(&k, "channel", "email"),
        json!({"customers": null, "tickets": 3, "unanswered": 1, "first_reply_median_h": 1.5, "csat": 1.0, "nps": null}),
    );
    same(find(&k, "tenure", "Trial"), json!({"customers": 2, "tickets": 1, "first_reply_median_h": 1.0}));

    let sla = rows(&p, "weekly-leadership/2026-W47.preview", "sla_attainment");
    let got: Vec<Value> =
        sla.iter().map(|r| json!([r["tier"], r["tickets"], r["first_reply_met"], r["solved"], r["resolution_met"]])).collect();
    assert_eq!(got, vec![json!(["A", 0, null, 0, null]), json!(["B", 2, 1.0, 2, 0.5]), json!(["C", 2, 0.5, 1, 1.0])]);

    let reasons = rows(&p, "weekly-leadership/2026-W47.preview", "contact_reasons");
    let all: Vec<Value> = reasons
        .iter()
        .filter(|r| r["dimension"] == "All")
        .map(|r| json!([r["reason"], r["tickets"], r["share"], r["prev_tickets"]]))
        .collect();
    assert_eq!(
        all,
        vec![
            json!(["Billing", 3, 0.6, 0]),
            json!(["Bug report", 1, 0.2, 0]),
            json!(["How-to question", 1, 0.2, 1]),
            json!(["Login and access", 0, 0.0, 1]),
        ]
    );
    same(reasons.iter().find(|r| r["dimension"] == "All" && r["reason"] == "Login and access").unwrap(), json!({"share_change_pp": -50.0}));

    let res = rows(&p, "weekly-leadership/2026-W47.preview", "data_quality");
    let problem =
        |table: &str, check: &str| res.iter().find(|r| r["table_name"] == table && r["check_name"] == check).unwrap()["problem"].clone();
    assert_eq!(problem("tickets", "orphans"), json!(1));
    assert_eq!(problem("tickets", "out of range: solved before created"), json!(1));
    assert_eq!(problem("tickets", "null: first_reply_at (unanswered)"), json!(2));
    assert_eq!(problem("orders", "null: cost"), json!(2));
    assert_eq!(problem("customers", "null: employees"), json!(1));
    let fresh = res.iter().find(|r| r["table_name"] == "tickets" && r["check_name"] == "rows").unwrap();
    same(fresh, json!({"rows": 7, "newest": "2026-11-22T10:00:00Z", "hours_old": 20.0}));

    let text = p.read("archive/weekly-leadership/2026-W47.preview/report.txt");
    for line in [
        "  CSAT: 66.7% (▼ −33.3 pp vs previous period; from 100.0% to 66.7% over 2 periods)",
        "  First reply (median): 2.0 h (▼ −55.6% vs previous period; from 4.5 to 2.0 over 2 periods)",
        "DATA HEALTH",
    ] {
        assert!(text.contains(line), "report.txt lacks {line:?}:\n{text}");
    }
}

/// The support sparklines' figures, twelve weeks back from W47 (weeks as in support_kpis): week 12
/// has tickets 201–204 and 207 (first replies 1, 2 and 4 h → median 2) and ratings 5, 2 and 4
/// (2 of 3 happy); week 11 has 205 and 206 (replies 6 and 3 h → median 4.5) and one rating of 5;
/// weeks 1–10 have nothing, so no median and no CSAT, and the sparkline's sentence speaks of the two
/// weeks it has.
#[test]
fn the_support_trend_gives_each_of_twelve_weeks() {
    let p = project();
    p.run(&["run", "weekly-leadership", "--as-of", "2026-11-23T07:00", "--dry-run"]).expect(0);
    let t = rows(&p, "weekly-leadership/2026-W47.preview", "support_trend");
    assert_eq!(t.len(), 12);
    for (i, row) in t.iter().enumerate() {
        let want = match i + 1 {
            12 => json!({"period": 12, "tickets": 5, "first_reply_median_h": 2.0, "csat": 2.0 / 3.0, "csat_responses": 3}),
            11 => json!({"period": 11, "tickets": 2, "first_reply_median_h": 4.5, "csat": 1.0, "csat_responses": 1}),
            n => json!({"period": n, "tickets": 0, "first_reply_median_h": null, "csat": null, "csat_responses": 0}),
        };
        same(row, want);
    }
    let text = p.read("archive/weekly-leadership/2026-W47.preview/report.txt");
    assert!(text.contains("  First reply (median): 2.0 h (▼ −55.6% vs previous period; from 4.5 to 2.0 over 2 periods)"), "{text}");
}

#[test]
fn an_alert_fires_heads_the_report_and_respects_small_samples() {
    let server = SmtpServer::start(Options::default());
    let p = project();
    p.file("pareto.toml", &config(server.port, ""));
    // Tier C's CSAT this week is 0 % from one rating. With the default minimum of 10 ratings the
    // rule stays quiet; with a minimum of 1 it fires.
    let rule = "\n[[alert]]\nname = \"C-tier CSAT\"\nquery = \"support_kpis\"\nmetric = \"csat\"\nwhere = { dimension = \"value_tier\", segment = \"C\" }\nbelow = 0.8\nseverity = \"critical\"\nmessage = \"CSAT for tier {{segment}} is {{percent value}}, below {{percent baseline}}.\"\n";
    let job = p.read("jobs/weekly-leadership.toml");
    p.file("jobs/weekly-leadership.toml", &job.replace("# Alerts head the report", &format!("{rule}\n# Alerts head the report")));
    p.run(&["run", "weekly-leadership", "--as-of", "2026-11-23T07:00", "--dry-run"]).expect(0);
    let run: Value = serde_json::from_str(&p.read("archive/weekly-leadership/2026-W47.preview/run.json")).unwrap();
    assert_eq!(run["alerts"], json!([]));

    p.file("jobs/weekly-leadership.toml", &p.read("jobs/weekly-leadership.toml").replace("min_responses = 10", "min_responses = 1"));
    p.run(&["run", "weekly-leadership", "--as-of", "2026-11-23T07:00"]).expect(0);
    let run: Value = serde_json::from_str(&p.read("archive/weekly-leadership/2026-W47/run.json")).unwrap();
    assert_eq!(run["alerts"], json!(["C-tier CSAT (critical): CSAT for tier C is 0.0%, below 80.0%."]));
    let text = p.read("archive/weekly-leadership/2026-W47/report.txt");
    let alerts_at = text.find("ALERTS\n  [critical] C: CSAT for tier C is 0.0%, below 80.0%.").expect("alert in the report");
    assert!(alerts_at < text.find("CONCENTRATION").unwrap(), "alerts head the report");
    let got = server.received();
    assert_eq!(got.len(), 1);
    let html = MessageParser::default().parse(&got[0].raw).unwrap().body_html(0).unwrap().to_string();
    assert!(html.contains("CSAT for tier C is 0.0%, below 80.0%."), "{html}");
}

#[test]
fn daily_alerts_send_only_when_something_fired() {
    let server = SmtpServer::start(Options::default());
    let p = project();
    p.file("pareto.toml", &config(server.port, ""));
    // 2026-11-20: one ticket (Globex, tier C); the A-tier rules have nothing to look at, and one
    // ticket is below the spike rule's floor of 5.
    let out = p.run(&["run", "daily-support-alerts", "--as-of", "2026-11-21T08:00"]);
    out.expect(0);
    assert_eq!(out.stdout.lines().next().unwrap(), "no alert fired for daily-support-alerts 2026-11-20: nothing sent");
    assert!(server.received().is_empty());
    let run: Value = serde_json::from_str(&p.read("archive/daily-support-alerts/2026-11-20/run.json")).unwrap();
    assert_eq!(run["outcome"], "no-alerts");

    // 2026-11-22: with the floor at 1, the unknown customer's first ticket is a spike against 28
    // quiet days (in its value tier and its tenure band alike).
    p.file("jobs/daily-support-alerts.toml", &p.read("jobs/daily-support-alerts.toml").replace("at_least = 5", "at_least = 1"));
    let out = p.run(&["run", "daily-support-alerts", "--as-of", "2026-11-23T08:00"]);
    out.expect(0);
    let got = server.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].rcpt_tos, vec!["support-leads@example.com"]);
    let msg = MessageParser::default().parse(&got[0].raw).unwrap();
    assert_eq!(msg.subject(), Some("Support alert · Sun 22 Nov 2026"));
    let text = msg.body_text(0).unwrap().replace("\r\n", "\n");
    assert_eq!(text.matches("[warning] Unknown: 1 tickets from Unknown customers, against 0.0 a day on average.").count(), 2, "{text}");
    let days = rows(&p, "daily-support-alerts/2026-11-22", "ticket_days");
    let all: Vec<i64> = days.iter().filter(|r| r["segment"] == "All").map(|r| r["tickets"].as_i64().unwrap()).collect();
    assert_eq!(all.len(), 29);
    assert_eq!(all.iter().sum::<i64>(), 7);
}

#[test]
fn stale_data_holds_the_report_and_tells_the_owners() {
    let server = SmtpServer::start(Options::default());
    let p = project();
    p.file("pareto.toml", &config(server.port, ""));
    // On 2026-11-25 at 08:00 Amsterdam (07:00Z) the newest ticket (2026-11-22T10:00Z) is 69 hours
    // old; the daily job allows 36.
    let out = p.run(&["run", "daily-support-alerts", "--as-of", "2026-11-25T08:00"]);
    out.expect(3);
    assert_eq!(
        out.stderr.lines().take(3).collect::<Vec<_>>(),
        vec![
            "held: job `daily-support-alerts` was not sent because its data is stale:",
            "  table `tickets` is stale: its newest row is from 2026-11-22T10:00:00Z (69 hours before the run; the job allows 36h)",
            "owners told: 250 2.0.0 OK queued as 001",
        ]
    );
    let got = server.received();
    assert_eq!(got.len(), 1, "only the notice");
    assert_eq!(got[0].rcpt_tos, vec!["data@example.com"]);
    let msg = MessageParser::default().parse(&got[0].raw).unwrap();
    assert_eq!(msg.subject(), Some("[pareto] daily-support-alerts 2026-11-24 held: stale data"));
    let text = msg.body_text(0).unwrap().replace("\r\n", "\n");
    assert!(text.contains("table `tickets` is stale: its newest row is from 2026-11-22T10:00:00Z"), "{text}");
    assert!(text.contains("pareto run daily-support-alerts --as-of 2026-11-25"), "{text}");
    let run: Value = serde_json::from_str(&p.read("archive/daily-support-alerts/2026-11-24/run.json")).unwrap();
    assert_eq!(run["outcome"], "held");
    assert_eq!(run["notice"], "owners told: 250 2.0.0 OK queued as 001");
    assert!(!p.path("archive/daily-support-alerts/2026-11-24/report.html").exists(), "no report was built");
}

#[test]
fn monthly_segment_review_attaches_the_a_and_exit_lists() {
    let server = SmtpServer::start(Options::default());
    let p = project();
    p.file("pareto.toml", &config(server.port, ""));
    // November 2026, as of 2 December. The lake's data ends on 22 November, so the freshness gate
    // is lifted for this run (it has its own test). As of 30 November the tiers are those of the
    // weekly test: Initech ranks A but, under 90 days old, is moved to B.
    p.file(
        "jobs/monthly-segment-review.toml",
        &p.read("jobs/monthly-segment-review.toml").replace("require_fresh = { orders = \"72h\", tickets = \"72h\" }", ""),
    );
    let out = p.run(&["run", "monthly-segment-review", "--as-of", "2026-12-02T09:00"]);
    out.expect(0);
    let got = server.received();
    let rcpt: Vec<Vec<String>> = got.iter().map(|g| g.rcpt_tos.clone()).collect();
    assert_eq!(rcpt, vec![vec!["leadership@example.com"], vec!["cs@example.com"]]);
    let msg = MessageParser::default().parse(&got[0].raw).unwrap();
    assert_eq!(msg.subject(), Some("Segment review · November 2026"));
    let names: Vec<&str> = msg.attachments().map(|a| a.attachment_name().unwrap()).collect();
    assert_eq!(names, vec!["a_list-2026-11.csv", "exit_list-2026-11.xlsx"]);
    let a = msg.attachments().next().unwrap();
    assert_eq!(String::from_utf8_lossy(a.contents()).lines().count(), 1, "no customer is in A: the header alone");
    // The Exit list as a workbook: Umbrella, its twelve months' revenue a number in euros.
    let x = crate::support::read_xlsx(&p.path("archive/monthly-segment-review/2026-11/results/exit_list.xlsx"));
    let cells = x["rows"].as_array().unwrap();
    assert_eq!(cells.len(), 2, "{x}");
    let header: Vec<&str> = cells[0].as_array().unwrap().iter().map(|c| c[0].as_str().unwrap()).collect();
    let at = |name: &str| &cells[1][header.iter().position(|h| *h == name).unwrap()];
    assert_eq!(at("name"), &json!(["Umbrella", "s", "General"]));
    assert_eq!(at("revenue_12m"), &json!([49.5, "n", "\"€\"#,##0.00;-\"€\"#,##0.00"]));
    let tiers = rows(&p, "monthly-segment-review/2026-11", "tier_summary");
    let got: Vec<Value> = tiers.iter().map(|r| json!([r["tier"], r["members"]])).collect();
    assert_eq!(got, vec![json!(["B", 2]), json!(["C", 1]), json!(["Exit", 1])]);
}

#[test]
fn support_figures_match_an_independent_computation_on_the_demo_lake() {
    let p = TestProject::bundled();
    p.run(&["generate", "--out", "lake", "--customers", "1200", "--seed", "5", "--until", "2026-11-23"]).expect(0);
    p.run(&["run", "weekly-leadership", "--as-of", "2026-11-23T07:00", "--dry-run"]).expect(0);
    // Export the raw tables and the customers' segments, then let plain Python recompute the All and
    // per-tier KPIs from the raw rows.
    let export = |sql: &str, file: &str| {
        let out = p.run(&["query", sql, "--job", "weekly-leadership", "--as-of", "2026-11-23T07:00", "--format", "csv"]);
        out.expect(0);
        p.file(file, &out.stdout);
    };
    export(
        "SELECT ticket_id, customer_id, created_at, first_reply_at, solved_at, agent_replies, reopens, escalated, sentiment FROM tickets",
        "x/tickets.csv",
    );
    export("SELECT ticket_id, customer_id, rated_at, score FROM csat", "x/csat.csv");
    export("SELECT customer_id, responded_at, score FROM nps", "x/nps.csv");
    export("SELECT customer_id, tier FROM value_tiers", "x/tiers.csv");
    let out = std::process::Command::new("python3")
        .arg(std::path::Path::new(REPO).join("tests/it/support/support_check.py"))
        .args([p.path("x").to_str().unwrap(), "2026-11-15T23:00:00", "2026-11-22T23:00:00", "2026-11-08T23:00:00"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let want: Value = serde_json::from_slice(&out.stdout).unwrap();
    let k = rows(&p, "weekly-leadership/2026-W47.preview", "support_kpis");
    let mut compared = 0;
    for (segment, figures) in want.as_object().unwrap() {
        let dimension = if segment == "All" { "All" } else { "value_tier" };
        let got = find(&k, dimension, segment);
        for (name, w) in figures.as_object().unwrap() {
            match (got[name].as_f64(), w.as_f64()) {
                (Some(g), Some(w)) => assert!((g - w).abs() < 1e-9, "{segment} {name}: pareto {g}, independent {w}"),
                _ => assert_eq!(&got[name], w, "{segment} {name}"),
            }
            compared += 1;
        }
    }
    assert!(compared > 40, "{compared}");
    // The sparklines end on the headline's figures: their week 12 is this week's, 11 the one before.
    let all = find(&k, "All", "All");
    let trend = rows(&p, "weekly-leadership/2026-W47.preview", "support_trend");
    for (now, prev, column) in [
        ("tickets", "prev_tickets", "tickets"),
        ("first_reply_median_h", "prev_first_reply_median_h", "first_reply_median_h"),
        ("csat", "prev_csat", "csat"),
    ] {
        same(&trend[11], json!({ column: all[now] }));
        same(&trend[10], json!({ column: all[prev] }));
    }
    let h = &rows(&p, "weekly-leadership/2026-W47.preview", "headline")[0];
    let trend = rows(&p, "weekly-leadership/2026-W47.preview", "headline_trend");
    for column in ["revenue", "orders", "aov", "new_customers", "arr", "paying_customers"] {
        same(&trend[11], json!({ column: h[column] }));
        same(&trend[10], json!({ column: h[format!("prev_{column}")] }));
    }
    assert!(trend[0]["orders"].as_i64().unwrap() > 0 && trend[0]["arr"] != h["arr"], "{trend:?}");
}

#[test]
fn check_finds_alerts_on_columns_that_do_not_exist() {
    let p = project();
    p.file(
        "jobs/daily-support-alerts.toml",
        &p.read("jobs/daily-support-alerts.toml").replace("metric = \"first_reply_median_h\"", "metric = \"first_reply_median\""),
    );
    let out = p.run(&["check", "daily-support-alerts"]);
    out.expect(2);
    assert!(
        out.stdout.starts_with("jobs/daily-support-alerts.toml: alert `Slow first replies for A`: `support_kpis` has no column `first_reply_median` (it has: dimension, segment, customers, "),
        "{}",
        out.stdout
    );
}

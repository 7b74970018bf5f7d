//! Bursting: the bundled `weekly-account-owners` job sends each account manager a report of their
//! own accounts only, on a real SMTP server; an owner with no accounts gets nothing (or an empty
//! report with `empty = "send"`), one without an address is reported to the job's owners; a
//! process killed after group 2 of 3 is sent leaves group 3 to the next run, sent once.

use crate::support::smtp::{Options, Received, SmtpServer};
use crate::support::{TestProject, lake};
use datafusion::arrow::array::{ArrayRef, BooleanArray, Date32Array, Int32Array, Int64Array, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use mail_parser::{MessageParser, MimeHeaders};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;

const AS_OF: &str = "2026-11-23T07:30";
const PERIOD: &str = "2026-W47";
const HOSTILE: &str = "<script>alert(1)</script> Hooli";

/// Each owner's accounts (by name), as the lake below assigns them.
fn accounts() -> BTreeMap<&'static str, Vec<&'static str>> {
    BTreeMap::from([
        ("ada@example.com", vec!["Acme", "Umbrella"]),
        ("ben@example.com", vec!["Globex", HOSTILE]),
        ("chloe@example.com", vec!["Initech", "Vandelay Industries"]),
        // Dev has no accounts; Eve has one but no address.
        ("dev@example.com", vec![]),
        ("(none)", vec!["Stark Industries"]),
    ])
}

/// The hand-made lake (support/lake.rs) with owners: customers 1–4 as there, three more without
/// orders, and five account managers.
fn owners_lake(p: &TestProject) {
    lake::write(&p.root);
    let mut fields = lake::customer_fields();
    fields.push(Field::new("owner_id", DataType::Int64, true));
    let schema = Arc::new(Schema::new(fields));
    let d = lake::days;
    let cols: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(vec![1, 2, 3, 4, 5, 6, 7])),
        Arc::new(StringArray::from(vec!["Acme", "Globex", "Initech", "Umbrella", HOSTILE, "Vandelay Industries", "Stark Industries"])),
        Arc::new(Date32Array::from(vec![
            d("2024-01-10"),
            d("2025-06-01"),
            d("2026-11-18"),
            d("2026-11-10"),
            d("2025-01-01"),
            d("2025-02-01"),
            d("2025-03-01"),
        ])),
        Arc::new(StringArray::from(vec!["NL", "US", "DE", "GB", "US", "US", "US"])),
        Arc::new(StringArray::from(vec!["Europe", "North America", "Europe", "Europe", "North America", "North America", "North America"])),
        Arc::new(StringArray::from(vec!["Amsterdam", "Austin", "Berlin", "London", "Palo Alto", "New York", "Malibu"])),
        Arc::new(StringArray::from(vec!["Software", "Retail", "Finance", "Healthcare", "Software", "Retail", "Finance"])),
        Arc::new(Int32Array::from(vec![Some(5), Some(50), Some(2000), None, Some(300), Some(20), Some(5000)])),
        Arc::new(Int32Array::from(vec![Some(1980), None, None, None, None, None, None])),
        Arc::new(BooleanArray::from(vec![Some(false), Some(true), None, None, None, None, None])),
        Arc::new(Int64Array::from(vec![None, Some(1), None, None, None, None, None])),
        Arc::new(Int64Array::from(vec![Some(1), Some(2), Some(3), Some(1), Some(2), Some(3), Some(5)])),
    ];
    lake::write_parquet(&p.path("lake/customers/customers.parquet"), &RecordBatch::try_new(schema, cols).unwrap());
    let schema = Arc::new(Schema::new(vec![
        Field::new("owner_id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, false),
        Field::new("email", DataType::Utf8, true),
        Field::new("team", DataType::Utf8, true),
    ]));
    let cols: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(vec![1, 2, 3, 4, 5])),
        Arc::new(StringArray::from(vec!["Ada Akers", "Ben Brandt", "Chloe Costa", "Dev Dahl", "Eve Evans"])),
        Arc::new(StringArray::from(vec![
            Some("ada@example.com"),
            Some("ben@example.com"),
            Some("chloe@example.com"),
            Some("dev@example.com"),
            None,
        ])),
        Arc::new(StringArray::from(vec![Some("EMEA"); 5])),
    ];
    lake::write_parquet(&p.path("lake/owners/owners.parquet"), &RecordBatch::try_new(schema, cols).unwrap());
}

fn project(server: &SmtpServer) -> TestProject {
    let p = TestProject::bundled();
    p.file("pareto.toml", &crate::support::config(server.port, ""));
    owners_lake(&p);
    p
}

/// The reports the server got, by recipient (the owners' notices apart).
fn reports(server: &SmtpServer) -> BTreeMap<String, Vec<Received>> {
    let mut out: BTreeMap<String, Vec<Received>> = BTreeMap::new();
    for r in server.received() {
        if r.rcpt_tos != ["data@example.com"] {
            out.entry(r.rcpt_tos.join(",")).or_default().push(r);
        }
    }
    out
}

/// Everything a reader can see in a message: headers, both parts, every attachment.
fn readable(r: &Received) -> String {
    let msg = MessageParser::default().parse(&r.raw).unwrap();
    let mut all = format!(
        "{}\n{}\n{}\n",
        msg.subject().unwrap_or_default(),
        msg.body_text(0).unwrap_or_default(),
        msg.body_html(0).unwrap_or_default()
    );
    for a in msg.attachments() {
        all.push_str(a.attachment_name().unwrap_or_default());
        all.push_str(&String::from_utf8_lossy(a.contents()));
    }
    all
}

#[test]
fn each_owner_gets_their_own_accounts_and_no_one_elses() {
    let server = SmtpServer::start(Options::default());
    let p = project(&server);
    let out = p.run(&["run", "weekly-account-owners", "--as-of", AS_OF]);
    out.expect(0);
    assert_eq!(
        out.stdout,
        "sent weekly-account-owners 2026-W47: 3 of 5 groups, 3 recipient(s)\n  \
         4 (Dev Dahl): no rows: not sent (`[burst] empty = \"skip\"`)\n  \
         5 (Eve Evans): not sent: no address in `account_owners.email`\n\
         reports: archive/weekly-account-owners/2026-W47/<group>/report.html\n"
    );
    let got = reports(&server);
    assert_eq!(got.keys().collect::<Vec<_>>(), ["ada@example.com", "ben@example.com", "chloe@example.com"]);
    let all = accounts();
    for (to, messages) in &got {
        assert_eq!(messages.len(), 1, "{to}: one report");
        let msg = MessageParser::default().parse(&messages[0].raw).unwrap();
        let owner = ["Ada Akers", "Ben Brandt", "Chloe Costa"]
            [["ada@example.com", "ben@example.com", "chloe@example.com"].iter().position(|a| a == to).unwrap()];
        assert_eq!(msg.subject(), Some(format!("Your accounts · {owner} · Mon 16 – Sun 22 Nov 2026").as_str()));
        let header_to = msg.to().unwrap().first().unwrap();
        assert_eq!((header_to.name(), header_to.address()), (Some(owner), Some(to.as_str())));
        let seen = readable(&messages[0]);
        let text = msg.body_text(0).unwrap();
        let html = msg.body_html(0).unwrap();
        for (other, names) in &all {
            for name in names {
                if other == to {
                    // Their own accounts are there: in the text as written, in the HTML escaped.
                    assert!(text.contains(name), "{to} lacks {name}:\n{text}");
                } else {
                    assert!(!seen.contains(name), "{to} got {other}'s {name}:\n{seen}");
                    // Not even a part of one (the HTML escapes the hostile name).
                    assert!(!seen.contains(&name.replace('<', "&lt;").replace('>', "&gt;")), "{to} got {other}'s {name}");
                }
            }
        }
        if to == "ben@example.com" {
            assert!(!html.contains("<script>"), "lake text is escaped in the HTML");
            assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt; Hooli"), "{html}");
        }
    }

    // The figures are the owner's: accounts and twelve-month revenue (support/lake.rs: Acme 180.00,
    // Umbrella 49.50, Globex 270.50, Initech 1,000.00; the three new accounts have no orders).
    for (group, accounts, revenue) in [("1", 2, 229.5), ("2", 2, 270.5), ("3", 2, 1000.0)] {
        let mix = p.result(&format!("archive/weekly-account-owners/{PERIOD}/{group}/results"), "owner_tier_mix");
        let rows = mix["rows"].as_array().unwrap();
        let n: i64 = rows.iter().map(|r| r["accounts"].as_i64().unwrap()).sum();
        let total: f64 = rows.iter().map(|r| r["revenue_12m"].as_str().unwrap().parse::<f64>().unwrap()).sum();
        assert_eq!((n, total), (accounts, revenue), "group {group}: {mix}");
    }
    // The run record lists every group, the two not sent with why.
    let run: serde_json::Value = serde_json::from_str(&p.read(&format!("archive/weekly-account-owners/{PERIOD}/run.json"))).unwrap();
    let groups: Vec<(String, serde_json::Value)> =
        run["groups"].as_array().unwrap().iter().map(|g| (g["key"].as_str().unwrap().to_string(), g["not_sent"].clone())).collect();
    assert_eq!(groups.len(), 5);
    assert_eq!(groups[3], ("4".into(), serde_json::json!("no rows: not sent (`[burst] empty = \"skip\"`)")));
    // An owner without an address is a data problem the job's owners hear about, once.
    let notices: Vec<Received> = server.received().into_iter().filter(|r| r.rcpt_tos == ["data@example.com"]).collect();
    assert_eq!(notices.len(), 1);
    let notice = MessageParser::default().parse(&notices[0].raw).unwrap();
    assert_eq!(notice.subject(), Some("[pareto] weekly-account-owners 2026-W47: groups without an address"));
    assert!(
        notice.body_text(0).unwrap().contains("  - group 5 (Eve Evans): no address in `account_owners.email`"),
        "{}",
        notice.body_text(0).unwrap()
    );

    // `pareto history` shows every group and its recipients.
    let h = p.run(&["history", "weekly-account-owners", PERIOD]);
    h.expect(0);
    for line in [
        "  groups   5 (2 not sent)",
        "  group 1 (Ada Akers): Your accounts · Ada Akers · Mon 16 – Sun 22 Nov 2026",
        "    sent      ada@example.com (1 attempt(s)): 250 2.0.0 OK",
        "  group 4 (Dev Dahl): no rows: not sent (`[burst] empty = \"skip\"`)",
    ] {
        assert!(h.stdout.lines().any(|l| l.starts_with(line)), "no line {line:?} in\n{}", h.stdout);
    }

    // A second run sends nothing; with `empty = "send"` and --force, Dev gets an empty report too.
    p.run(&["run", "weekly-account-owners", "--as-of", AS_OF]).expect(0);
    assert_eq!(reports(&server).values().map(Vec::len).sum::<usize>(), 3);
    let job = p.read("jobs/weekly-account-owners.toml").replace("empty = \"skip\"", "empty = \"send\"");
    p.file("jobs/weekly-account-owners.toml", &job);
    p.run(&["run", "weekly-account-owners", "--as-of", AS_OF, "--force"]).expect(0);
    let got = reports(&server);
    assert_eq!(
        got.iter().map(|(k, v)| (k.as_str(), v.len())).collect::<Vec<_>>(),
        [("ada@example.com", 2), ("ben@example.com", 2), ("chloe@example.com", 2), ("dev@example.com", 1)]
    );
    let dev = readable(&got["dev@example.com"][0]);
    for names in all.values() {
        for name in names {
            assert!(!dev.contains(name), "Dev has no accounts, and got {name}");
        }
    }
}

/// Kill `pareto run` once group 2 of 3 is sent: the next run sends group 3, and only it.
#[test]
fn a_run_killed_after_group_two_sends_group_three_once_on_the_next_run() {
    let server = SmtpServer::start(Options::default());
    let p = project(&server);
    let mut cmd = Command::new(crate::support::BIN);
    cmd.args(["run", "weekly-account-owners", "--as-of", AS_OF])
        .current_dir(&p.root)
        .env("PARETO_TEST_PAUSE", "after-group-2")
        .env_remove("PARETO_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let mut seen = Vec::new();
    loop {
        match lines.next() {
            Some(Ok(l)) if l == "pareto: paused at after-group-2" => break,
            Some(Ok(l)) => seen.push(l),
            _ => panic!("the run ended without pausing: {seen:?}"),
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(reports(&server).keys().collect::<Vec<_>>(), ["ada@example.com", "ben@example.com"]);

    let out = p.run(&["run", "weekly-account-owners", "--as-of", AS_OF]);
    out.expect(0);
    assert!(
        out.stdout.starts_with("sent weekly-account-owners 2026-W47: 3 of 5 groups, 3 recipient(s) (resumed from the outbox)"),
        "{}",
        out.stdout
    );
    let got = reports(&server);
    assert_eq!(
        got.iter().map(|(k, v)| (k.as_str(), v.len())).collect::<Vec<_>>(),
        [("ada@example.com", 1), ("ben@example.com", 1), ("chloe@example.com", 1)]
    );
    // The notice of the group without an address, which the killed run never got to, goes out once.
    let notices = server.received().into_iter().filter(|r| r.rcpt_tos == ["data@example.com"]).count();
    assert_eq!(notices, 1);
    // Group 3's message is the one rendered before the kill (same Message-ID and bytes as archived).
    let archived = std::fs::read(p.path(&format!("archive/weekly-account-owners/{PERIOD}/3/message.eml"))).unwrap();
    crate::support::same_bytes(&got["chloe@example.com"][0].raw, &[&archived[..], b"\r\n"].concat());
    p.run(&["run", "weekly-account-owners", "--as-of", AS_OF]).expect(0);
    assert_eq!(reports(&server).values().map(Vec::len).sum::<usize>(), 3, "nothing is sent twice");
}

#[test]
fn one_group_can_be_previewed_and_the_preview_sends_nothing_else() {
    let server = SmtpServer::start(Options::default());
    let p = project(&server);
    let out = p.run(&["run", "weekly-account-owners", "--as-of", AS_OF, "--group", "2", "--to", "me@example.com"]);
    out.expect(0);
    assert_eq!(
        out.stdout,
        "sent previews of weekly-account-owners 2026-W47: 1 group(s) to me@example.com\n\
         report: archive/weekly-account-owners/2026-W47.preview/2/report.html\n"
    );
    let got = server.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].rcpt_tos, ["me@example.com"]);
    let seen = readable(&got[0]);
    assert!(seen.contains("Globex") && !seen.contains("Acme") && !seen.contains("Initech"), "{seen}");

    // `pareto plan` counts the groups the burst query lists for the period.
    let out = p.run(&["plan", "weekly-account-owners", "-n", "1", "--from", "2026-11-23T07:00"]);
    out.expect(0);
    assert_eq!(
        out.stdout,
        "weekly-account-owners (30 7 * * MON, Europe/Amsterdam, every week)\n  \
         Mon 2026-11-23 07:30 CET  covers 2026-W47 (Mon 16 – Sun 22 Nov 2026)\n  \
         one report per `owner_id`: 5 group(s) in `account_owners` as of 2026-11-23\n"
    );

    // A data team tries a per-group query for one group.
    let out = p.run(&[
        "query",
        "--job",
        "weekly-account-owners",
        "--as-of",
        AS_OF,
        "--group",
        "2",
        "--format",
        "csv",
        "SELECT name, revenue_12m FROM owner_accounts",
    ]);
    out.expect(0);
    assert_eq!(out.stdout, format!("name,revenue_12m\nGlobex,270.50\n{HOSTILE},0.00\n"));

    let out = p.run(&["run", "weekly-account-owners", "--as-of", AS_OF, "--group", "2"]);
    out.expect(2);
    assert_eq!(
        out.stderr,
        "error: --group previews one group's report: add --dry-run, or --to ADDR to send it to yourself; the period's run sends every group (through the ledger, once)\n"
    );
    let out = p.run(&["run", "weekly-account-owners", "--as-of", AS_OF, "--group", "9", "--dry-run"]);
    out.expect(1);
    assert!(
        out.stderr.contains("queries/account_owners.sql: `--group 9`: `account_owners` returned no group with `owner_id` = 9"),
        "{}",
        out.stderr
    );
}

#[test]
fn check_refuses_a_per_group_query_that_does_not_filter_by_the_key() {
    let p = TestProject::bundled();
    owners_lake(&p);
    p.file(
        "queries/owner_tier_moves.sql",
        "-- One owner's moves.\n-- pareto: burst owner_id\nSELECT name, tier_before, tier, revenue_12m, company_size FROM owned_accounts\n",
    );
    p.file(
        "queries/owner_service.sql",
        "-- pareto: burst region\nSELECT tier, tickets, first_reply_median_h, first_reply_target_h, first_reply_met, resolution_met, escalation_rate, csat FROM owned_service WHERE owner_id = $burst_key\n",
    );
    p.file("queries/tier_summary.sql", &(p.read("queries/tier_summary.sql") + "\n-- $burst_key is not here\n"));
    p.file("queries/headline.sql", "SELECT COUNT(*) AS customers FROM customers WHERE owner_id = $burst_key\n");
    p.file(
        "queries/owned_service.sql",
        &p.read("queries/owned_service.sql").replace("WHERE tk.created_at", "WHERE a.owner_id = $burst_key AND tk.created_at"),
    );
    let out = p.run(&["check"]);
    out.expect(2);
    for line in [
        "queries/owner_tier_moves.sql:2:1: `owner_tier_moves` runs once per group but never reads `$burst_key`, so every group would get every row; filter by it, e.g. `WHERE owner_id = $burst_key`",
        "queries/owner_service.sql:1:1: `-- pareto: burst region`: job `weekly-account-owners` bursts by `owner_id` (`[burst] key`); the query is written for another key",
        "queries/headline.sql:1:62: `$burst_key` is bound only in a query that runs once per group of a `[burst]` job: add a `-- pareto: burst` line to it (`pareto query --group KEY` binds it to try one group)",
        "queries/owned_service.sql: `owned_service` reads `$burst_key`, which is bound only in a query that runs once per group: add a `-- pareto: burst` line to it",
    ] {
        assert!(out.stdout.contains(line), "no {line:?} in\n{}", out.stdout);
    }
    assert!(!out.stdout.contains("tier_summary"), "a comment is not a use: {}", out.stdout);
}

/// The server refuses one owner's address: the other groups are sent, the run says who was not.
#[test]
fn a_group_the_server_refuses_holds_up_no_other_group() {
    let server = SmtpServer::start(Options { reject_rcpt: vec!["ben@example.com"], ..Default::default() });
    let p = project(&server);
    let out = p.run(&["run", "weekly-account-owners", "--as-of", AS_OF]);
    out.expect(4);
    assert!(out.stderr.contains("sent to 2 of 3; rejected: ben@example.com ("), "{}", out.stderr);
    assert!(out.stderr.contains("  rejected ben@example.com: 127.0.0.1:"), "{}", out.stderr);
    assert_eq!(reports(&server).keys().collect::<Vec<_>>(), ["ada@example.com", "chloe@example.com"]);
    let h = p.run(&["history", "weekly-account-owners", PERIOD]);
    assert!(h.stdout.contains("    rejected  ben@example.com (1 attempt(s)): 127.0.0.1:"), "{}", h.stdout);
    assert!(h.stdout.contains("permanent error (550)"), "{}", h.stdout);
}

/// `pareto demo --job weekly-account-owners` shows where the first group's report is, and it is there.
#[test]
fn the_demo_of_the_owners_report_points_at_a_report_that_exists() {
    let p = TestProject::bundled();
    let out = p.run(&["demo", "--job", "weekly-account-owners", "--customers", "1500", "--until", "2026-11-23"]);
    out.expect(0);
    let line = out.stdout.lines().nth(1).unwrap();
    let prefix = "report for weekly-account-owners (Mon 16 – Sun 22 Nov 2026) (the first of 3 groups): ";
    assert!(line.starts_with(prefix), "{}", out.stdout);
    let report = std::fs::read_to_string(&line[prefix.len()..]).unwrap();
    assert!(report.contains("For Ada Akers: the accounts you look after, and only those."), "{report}");
}

/// An empty `owners` table: no one to send to is a failed run the owners hear of, not a silent one.
#[test]
fn a_burst_query_without_rows_fails_the_run() {
    let server = SmtpServer::start(Options::default());
    let p = project(&server);
    let schema = Arc::new(Schema::new(vec![
        Field::new("owner_id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, false),
        Field::new("email", DataType::Utf8, true),
    ]));
    let empty = RecordBatch::new_empty(schema);
    lake::write_parquet(&p.path("lake/owners/owners.parquet"), &empty);
    let out = p.run(&["run", "weekly-account-owners", "--as-of", AS_OF]);
    out.expect(1);
    assert!(
        out.stderr.contains(
            "queries/account_owners.sql: `account_owners` returned no groups (no row with a `owner_id`), so there is no one to send to; nothing was sent"
        ),
        "{}",
        out.stderr
    );
    assert!(reports(&server).is_empty());
    let notices: Vec<Received> = server.received().into_iter().filter(|r| r.rcpt_tos == ["data@example.com"]).collect();
    assert_eq!(notices.len(), 1, "the owners are told the run failed");
}

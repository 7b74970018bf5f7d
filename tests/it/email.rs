//! `pareto run` against a real SMTP server: what arrives matches the archive, byte for byte.

use crate::support::smtp::{Options, SmtpServer};
use crate::support::{TestProject, config, lake};
use mail_parser::{MessageParser, MimeHeaders};

fn project_for(server: &SmtpServer, extra_smtp: &str) -> TestProject {
    let p = TestProject::bundled();
    p.file("pareto.toml", &config(server.port, extra_smtp));
    lake::write(&p.root);
    p
}

const RUN_DIR: &str = "archive/weekly-leadership/2026-W47";

#[test]
fn weekly_report_arrives_as_multipart_email_matching_the_archive() {
    let server = SmtpServer::start(Options::default());
    let p = project_for(&server, "");
    let out = p.run(&["run", "weekly-leadership", "--as-of", "2026-11-23T07:00"]);
    out.expect(0);
    assert_eq!(
        out.stdout.lines().next().unwrap(),
        "sent weekly-leadership 2026-W47 to leadership@example.com: Weekly value report · Mon 16 – Sun 22 Nov 2026"
    );

    let got = server.received();
    assert_eq!(got.len(), 1, "exactly one email");
    let m = &got[0];
    assert_eq!(m.mail_from, "reports@example.com");
    assert_eq!(m.rcpt_tos, vec!["leadership@example.com"]);
    // What the server got is exactly what was archived (plus the CRLF that lettre's end-of-data
    // marker adds after the message's own final line break).
    let archived = std::fs::read(p.path(&format!("{RUN_DIR}/message.eml"))).unwrap();
    crate::support::same_bytes(&m.raw, &[&archived[..], b"\r\n"].concat());

    let msg = MessageParser::default().parse(&m.raw).unwrap();
    assert_eq!(msg.subject(), Some("Weekly value report · Mon 16 – Sun 22 Nov 2026"));
    assert_eq!(msg.message_id(), Some("pareto.weekly-leadership.2026-W47@example.com"));
    assert_eq!(msg.from().unwrap().first().unwrap().address(), Some("reports@example.com"));
    assert_eq!(msg.reply_to().unwrap().first().unwrap().address(), Some("data@example.com"));
    assert!(msg.date().is_some());
    let ct = msg.header_raw("Content-Type").unwrap();
    assert!(ct.contains("multipart/mixed"), "{ct}");
    // The alternative part holds text and HTML, the same as the archive.
    assert_eq!(msg.body_text(0).unwrap().replace("\r\n", "\n"), p.read(&format!("{RUN_DIR}/report.txt")));
    // The archived report shows its charts from files beside it, the message by Content-ID.
    let html = msg.body_html(0).unwrap().replace("\r\n", "\n");
    assert_eq!(
        html.replace("src=\"cid:chart-", "src=\"charts/chart-").replace("@pareto\"", ".png\""),
        p.read(&format!("{RUN_DIR}/report.html"))
    );
    let raw = String::from_utf8_lossy(&m.raw);
    assert!(raw.contains("multipart/alternative"));

    // The attached CSVs are the Exit list, the customers who fell out of A, and the top
    // customers, exactly (the charts are inline parts: the next test).
    let att: Vec<_> = msg.attachments().filter(|a| a.content_type().map(|c| c.ctype()) != Some("image")).collect();
    assert_eq!(att.len(), 3);
    assert_eq!(att[0].attachment_name(), Some("exit_list-2026-W47.csv"));
    assert_eq!(
        String::from_utf8_lossy(att[0].contents()),
        "customer_id,name,company_size,country,tenure_band,revenue_12m,margin_12m,arr,last_order_at,score,reason\n\
         4,Umbrella,Unknown,GB,Trial,49.50,29.50,0.00,2026-11-15T23:00:00Z,12.0,\n"
    );
    assert_eq!(att[2].attachment_name(), Some("top_customers-2026-W47.csv"));
    assert_eq!(
        String::from_utf8_lossy(att[2].contents()),
        "customer_id,name,company_size,country,orders,revenue,revenue_share\n\
         3,Initech,Enterprise,DE,1,1000.00,0.7142857142857143\n\
         2,Globex,SMB,US,1,250.50,0.17892857142857144\n\
         1,Acme,Solo,NL,1,100.00,0.07142857142857142\n\
         4,Umbrella,Unknown,GB,1,49.50,0.03535714285714286\n"
    );
    assert_eq!(att[1].attachment_name(), Some("fell_from_a-2026-W47.csv"));
    assert_eq!(
        String::from_utf8_lossy(att[1].contents()),
        "customer_id,name,company_size,country,now_tier,reason,revenue_12m,prev_revenue_12m,revenue_change\n\
         1,Acme,Solo,NL,B,score fell below the A cut-off,180.00,80.00,1.25\n"
    );

    // The figures, worked out by hand in support/lake.rs.
    let text = p.read(&format!("{RUN_DIR}/report.txt"));
    for line in [
        "Revenue: €1,400 (▲ +1,300.0% vs previous period; from €0 to €1,400 over 12 periods)",
        "Orders: 4 (▲ +100.0% vs previous period; from 0 to 4 over 12 periods)",
        "Avg. order value: €350.00 (▲ +600.0% vs previous period; from €50.00 to €350.00 over 2 periods)",
        "New customers: 1 (■ ±0.0% vs previous period; from 0 to 1 over 12 periods)",
        "Segment     Customers  Revenue  Revenue share  Revenue change     AOV     LTV    ARPA",
        "Enterprise          1   €1,000          71.4%               –  €1,000  €1,000       –",
        "SMB                 1     €251          17.9%       +1,152.5%    €251    €271  €4,788",
        "Solo                1     €100           7.1%          +25.0%    €100    €180    €588",
        "Unknown             1      €50           3.5%               –     €50     €50       –",
    ] {
        assert!(text.contains(line), "report.txt lacks {line:?}:\n{text}");
    }
    let html = p.read(&format!("{RUN_DIR}/report.html"));
    assert!(html.contains("€1,400"), "{html}");
    assert!(html.contains("max-width:640px"));
    assert!(!html.to_lowercase().contains("<script"));
    assert!(!html.contains("<link"));

    // Results are archived with types kept: decimals exact, dates ISO, nulls null.
    let headline: serde_json::Value = serde_json::from_str(&p.read(&format!("{RUN_DIR}/results/headline.json"))).unwrap();
    assert_eq!(headline["rows"][0]["revenue"], "1400.00");
    assert_eq!(headline["rows"][0]["prev_revenue"], "100.00");
    assert_eq!(headline["rows"][0]["orders"], 4);
    assert_eq!(headline["rows"][0]["aov"], 350.0);
    let facts = p.result(&format!("{RUN_DIR}/results"), "customer_facts");
    let acme = facts["rows"].as_array().unwrap().iter().find(|r| r["customer_id"] == 1).unwrap();
    assert_eq!(acme["signup_date"], "2024-01-10");
    assert_eq!(facts["columns"][5], serde_json::json!({"name": "signup_date", "type": "date"}));
    // Attachments are archived as CSV exactly as attached; every result as Parquet.
    assert_eq!(
        p.read(&format!("{RUN_DIR}/results/top_customers.csv")).lines().next().unwrap(),
        "customer_id,name,company_size,country,orders,revenue,revenue_share"
    );
    assert!(p.path(&format!("{RUN_DIR}/results/tier_summary.parquet")).is_file());
    assert!(!p.path(&format!("{RUN_DIR}/results/tier_summary.csv")).exists());
    // … but an intermediate marked `-- pareto: archive off` (customer_orders, whose sums are all
    // in customer_facts), which still runs (its row count is below).
    assert!(p.path(&format!("{RUN_DIR}/results/customer_facts.parquet")).is_file());
    assert!(!p.path(&format!("{RUN_DIR}/results/customer_orders.parquet")).exists());

    let run: serde_json::Value = serde_json::from_str(&p.read(&format!("{RUN_DIR}/run.json"))).unwrap();
    assert_eq!(run["outcome"], "sent");
    assert_eq!(run["period_start"], "2026-11-15T23:00:00Z");
    assert_eq!(run["period_end"], "2026-11-22T23:00:00Z");
    assert_eq!(run["as_of"], "2026-11-23T06:00:00Z");
    assert_eq!(run["recipients"], serde_json::json!(["leadership@example.com"]));
    let rows: Vec<(String, u64)> =
        run["queries"].as_array().unwrap().iter().map(|q| (q["name"].as_str().unwrap().to_string(), q["rows"].as_u64().unwrap())).collect();
    // Every query, in an order where each comes after those it reads, with its row count.
    assert_eq!(rows.len(), 38, "{rows:?}");
    // Each query's start is recorded, after the run's first: a timeline where a query starts only
    // once what it reads is done.
    let at = |name: &str| {
        let q = run["queries"].as_array().unwrap().iter().find(|q| q["name"] == name).unwrap();
        (q["started_ms"].as_u64().unwrap(), q["millis"].as_u64().unwrap())
    };
    assert_eq!(run["queries"].as_array().unwrap().iter().map(|q| q["started_ms"].as_u64().unwrap()).min(), Some(0));
    for (reader, read) in
        [("customer_facts", "customer_orders"), ("value_tiers", "value_tiers_scores"), ("headline", "customer_facts__prev")]
    {
        assert!(at(reader).0 >= at(read).0 + at(read).1, "{reader} {:?} started before {read} {:?} was done", at(reader), at(read));
    }
    // Rendering is timed, with what it made: twelve charts, and an HTML part Gmail shows whole.
    assert_eq!(run["render"]["charts"], 12, "{}", run["render"]);
    assert!(run["render"]["millis"].is_u64() && run["render"]["chart_bytes"].as_u64().unwrap() > 12 * 500, "{}", run["render"]);
    assert!((20_000..100_000).contains(&run["render"]["html_bytes"].as_u64().unwrap()), "{}", run["render"]);
    // Four customers are too few for the predicted-value model: it is off, with why, and so is
    // every result that needs it; its inputs still ran.
    let off: Vec<(String, String)> = run["queries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|q| Some((q["name"].as_str()?.to_string(), q["off"].as_str()?.to_string())))
        .collect();
    let why = "only 4 customers had bought by the period's end; the predicted-value model needs at least 500 (`prediction.min_customers`)";
    assert!(off.contains(&("clv_fit".to_string(), why.to_string())), "{off:?}");
    assert!(off.contains(&("predicted_value".to_string(), format!("the predicted-value model is off: {why}"))), "{off:?}");
    assert_eq!(off.len(), 5, "{off:?}");
    for (name, n) in [
        ("customer_orders", 4),
        ("customer_orders__prev", 2),
        ("purchase_days", 4),
        ("customer_segments", 4),
        ("customer_segments__prev", 3),
        ("customer_facts", 4),
        ("customer_facts__prev", 3),
        ("value_tiers_scores", 4),
        ("value_tiers__prev", 3),
        ("headline", 1),
        ("top_customers", 4),
    ] {
        assert!(rows.contains(&(name.to_string(), n)), "{name}: {rows:?}");
    }
    let at = |n: &str| rows.iter().position(|(q, _)| q == n).unwrap();
    assert!(at("customer_facts") < at("value_tiers") && at("value_tiers") < at("tier_summary"), "{rows:?}");
    assert!(
        at("customer_orders") < at("customer_orders__prev")
            && at("customer_orders__prev") < at("customer_facts__prev")
            && at("value_tiers_scores") < at("value_tiers"),
        "{rows:?}"
    );
    assert!(run["smtp_reply"].as_str().unwrap().starts_with("250 "));
}

/// The charts: PNG parts inline beside the text and HTML (multipart/related), each named once by
/// the HTML's `cid:` and none left over, at twice the size the HTML shows them, small, and saying
/// their one sentence in the alt text and the plain-text part; no SVG and no data: URIs anywhere.
#[test]
fn charts_travel_as_inline_parts_the_html_names_by_content_id() {
    let server = SmtpServer::start(Options::default());
    let p = project_for(&server, "");
    p.run(&["run", "weekly-leadership", "--as-of", "2026-11-23T07:00"]).expect(0);
    let got = server.received();
    let msg = MessageParser::default().parse(&got[0].raw).unwrap();
    let raw = String::from_utf8_lossy(&got[0].raw);
    assert!(raw.contains("Content-Type: multipart/related"), "the charts and the two parts are related");
    let html = msg.body_html(0).unwrap().to_string();
    let lower = html.to_lowercase();
    assert!(!lower.contains("data:") && !lower.contains("<svg"), "no data: URIs and no SVG in the HTML");
    let images: Vec<_> = msg.parts.iter().filter(|part| part.content_type().map(|c| c.ctype()) == Some("image")).collect();
    let ids: Vec<&str> = images.iter().map(|i| i.content_id().unwrap()).collect();
    assert_eq!(ids, (1..=12).map(|i| format!("chart-{i}@pareto")).collect::<Vec<_>>());
    let tags: Vec<&str> = html.split("<img ").skip(1).map(|t| t.split('>').next().unwrap()).collect();
    assert_eq!(tags.len(), 12, "one <img> per part, and no part without one");
    let attr = |tag: &str, name: &str| tag.split(&format!(" {name}=\"")).nth(1).unwrap().split('"').next().unwrap().to_string();
    let mut alts = Vec::new();
    for (i, (tag, part)) in tags.iter().zip(&images).enumerate() {
        assert_eq!(attr(&format!(" {tag}"), "src"), format!("cid:chart-{}@pareto", i + 1));
        assert_eq!(part.content_disposition().map(|d| d.ctype()), Some("inline"));
        let png = part.contents();
        assert_eq!(&png[1..4], b"PNG");
        assert!(png.len() <= 100_000, "chart {} is {} bytes", i + 1, png.len());
        let (w, h) = (u32::from_be_bytes(png[16..20].try_into().unwrap()), u32::from_be_bytes(png[20..24].try_into().unwrap()));
        assert_eq!(
            (w, h),
            (2 * attr(&format!(" {tag}"), "width").parse::<u32>().unwrap(), 2 * attr(&format!(" {tag}"), "height").parse::<u32>().unwrap())
        );
        assert!(attr(&format!(" {tag}"), "width").parse::<u32>().unwrap() <= 600);
        // The archive keeps the same image.
        assert_eq!(std::fs::read(p.path(&format!("{RUN_DIR}/charts/chart-{}.png", i + 1))).unwrap(), png);
        alts.push(attr(&format!(" {tag}"), "alt"));
    }
    // Worked out from the hand-made lake: twelve weeks to W47 of which only W46 (2 orders, €100,
    // Umbrella new) and W47 (4 orders, €1,400, Initech new) have orders, so the AOV has two
    // points; the top customer of three with revenue brings 66.7 % of it (the Concentration
    // sentence's figure); MRR ends Sep, Oct and Nov at €49, €348, €448, and Nov moved by +€100 of
    // expansion alone; ARR and paying customers as of each week's end follow those months (weeks
    // 1–4 end in September); tickets, replies and ratings as in service.rs.
    assert_eq!(
        alts,
        [
            "Revenue: from €0 to €1,400 over 12 periods",
            "Orders: from 0 to 4 over 12 periods",
            "Avg. order value: from €50.00 to €350.00 over 2 periods",
            "New customers: from 0 to 1 over 12 periods",
            "ARR: from €588 to €5,376 over 12 periods",
            "Paying customers: from 1 to 2 over 12 periods",
            "Tickets: from 0 to 5 over 12 periods",
            "First reply (median): from 4.5 to 2.0 over 2 periods",
            "CSAT: from 100.0% to 66.7% over 2 periods",
            "Cumulative share of lifetime revenue, customers from smallest to largest: the top 20% of customers bring 66.7% of revenue (the diagonal is every customer bringing the same).",
            "MRR at each month&#x27;s end: €448.00 in Nov 2026, up 814.3% from €49.00 in Sep 2026.",
            "How MRR moved in the latest month (Nov 2026): from €348.00 to €448.00 (+€100.00 expansion).",
        ]
    );
    let text = msg.body_text(0).unwrap();
    assert!(text.contains("MRR at each month's end: €448.00 in Nov 2026, up 814.3% from €49.00 in Sep 2026."), "{text}");
    assert!(text.contains("How MRR moved in the latest month (Nov 2026): from €348.00 to €448.00 (+€100.00 expansion)."), "{text}");
}

#[test]
fn starttls_with_auth_delivers() {
    let server = SmtpServer::start(Options { tls: "starttls", user: Some(("reports", "s3cret")), ..Default::default() });
    let mut p = project_for(&server, &format!("user = \"reports\"\nca_file = \"{}\"", server.ca().display()));
    p.file("pareto.toml", &p.read("pareto.toml").replace("tls = \"none\"", "tls = \"starttls\""));
    p.env("PARETO_SMTP_PASSWORD", "s3cret");
    p.run(&["run", "weekly-leadership", "--as-of", "2026-11-23"]).expect(0);
    let got = server.received();
    assert_eq!(got.len(), 1);
    assert!(got[0].tls, "sent over TLS");
    assert!(got[0].auth, "authenticated");
}

#[test]
fn implicit_tls_delivers() {
    let server = SmtpServer::start(Options { tls: "tls", ..Default::default() });
    let p = project_for(&server, &format!("ca_file = \"{}\"", server.ca().display()));
    p.file("pareto.toml", &p.read("pareto.toml").replace("tls = \"none\"", "tls = \"tls\""));
    p.run(&["run", "weekly-leadership", "--as-of", "2026-11-23"]).expect(0);
    let got = server.received();
    assert_eq!(got.len(), 1);
    assert!(got[0].tls);
}

#[test]
fn wrong_password_is_refused_and_nothing_is_sent() {
    let server = SmtpServer::start(Options { tls: "starttls", user: Some(("reports", "s3cret")), ..Default::default() });
    let mut p = project_for(&server, &format!("user = \"reports\"\nca_file = \"{}\"", server.ca().display()));
    p.file("pareto.toml", &p.read("pareto.toml").replace("tls = \"none\"", "tls = \"starttls\""));
    p.env("PARETO_SMTP_PASSWORD", "wrong");
    let out = p.run(&["run", "weekly-leadership", "--as-of", "2026-11-23"]);
    out.expect(4);
    assert_eq!(
        out.stderr.lines().next().unwrap(),
        format!(
            "error: job `weekly-leadership` 2026-W47: sent to 0 of 1; not delivered, to try again: leadership@example.com (127.0.0.1:{}: permanent error (535): 5.7.8 Authentication credentials invalid; check `smtp.user` and the password variable)",
            server.port
        )
    );
    assert!(server.received().is_empty(), "not the report, nor the owners' notice");
    let run: serde_json::Value = serde_json::from_str(&p.read(&format!("{RUN_DIR}/run.json"))).unwrap();
    assert_eq!(run["outcome"], "failed");
}

#[test]
fn starttls_is_required_unless_configured_off() {
    // A server that does not offer STARTTLS: pareto must not fall back to plain text.
    let server = SmtpServer::start(Options::default());
    let p = project_for(&server, "");
    p.file("pareto.toml", &p.read("pareto.toml").replace("tls = \"none\"", "tls = \"starttls\""));
    let out = p.run(&["run", "weekly-leadership", "--as-of", "2026-11-23"]);
    out.expect(4);
    assert!(out.stderr.contains("STARTTLS"), "{}", out.stderr);
    assert!(server.received().is_empty());
}

#[test]
fn dry_run_archives_everything_and_sends_nothing() {
    let server = SmtpServer::start(Options::default());
    let p = project_for(&server, "");
    let out = p.run(&["run", "weekly-leadership", "--as-of", "2026-11-23", "--dry-run"]);
    out.expect(0);
    assert_eq!(out.stdout.lines().next().unwrap(), "dry run weekly-leadership 2026-W47: not sent (would go to leadership@example.com)");
    assert_eq!(out.stdout.lines().nth(1).unwrap(), "report: archive/weekly-leadership/2026-W47.preview/report.html");
    assert!(server.received().is_empty());
    let preview = format!("{RUN_DIR}.preview");
    for f in [
        "report.html",
        "report.txt",
        "message.eml",
        "run.json",
        "results/headline.json",
        "results/headline.parquet",
        "results/top_customers.csv",
    ] {
        assert!(p.path(&format!("{preview}/{f}")).is_file(), "{f}");
    }
    let run: serde_json::Value = serde_json::from_str(&p.read(&format!("{preview}/run.json"))).unwrap();
    assert_eq!(run["outcome"], "dry-run");
    assert!(!p.path(RUN_DIR).exists(), "a preview leaves the period's own folder alone");
}

#[test]
fn previews_and_failed_reruns_never_overwrite_the_record_of_a_sent_period() {
    let server = SmtpServer::start(Options::default());
    let p = project_for(&server, "");
    p.run(&["run", "weekly-leadership", "--as-of", "2026-11-23"]).expect(0);
    let sent = p.read(&format!("{RUN_DIR}/run.json"));
    let eml = p.read(&format!("{RUN_DIR}/message.eml"));

    p.run(&["run", "weekly-leadership", "--as-of", "2026-11-23", "--dry-run"]).expect(0);
    p.run(&["run", "weekly-leadership", "--as-of", "2026-11-23", "--to", "me@example.com"]).expect(0);
    // A plain rerun of a sent period does nothing.
    let out = p.run(&["run", "weekly-leadership", "--as-of", "2026-11-23"]);
    out.expect(0);
    assert!(out.stdout.starts_with("weekly-leadership 2026-W47 was already sent on "), "{}", out.stdout);
    assert!(out.stdout.ends_with(": nothing to do (--force sends it again)\n"), "{}", out.stdout);
    // A forced rerun that fails (the template now calls an unknown helper) records itself beside
    // the sent record, not over it.
    p.file("templates/weekly-leadership.txt.hbs", "{{money 1}}\n");
    let out = p.run(&["run", "weekly-leadership", "--as-of", "2026-11-23", "--force"]);
    out.expect(1);
    assert!(
        out.stderr.contains("nothing was sent; the run is recorded in archive/weekly-leadership/2026-W47/run-failed.json"),
        "{}",
        out.stderr
    );

    assert_eq!(p.read(&format!("{RUN_DIR}/run.json")), sent);
    assert_eq!(p.read(&format!("{RUN_DIR}/message.eml")), eml);
    let failed: serde_json::Value = serde_json::from_str(&p.read(&format!("{RUN_DIR}/run-failed.json"))).unwrap();
    assert_eq!(failed["outcome"], "failed");
    let got = server.received();
    let rcpt: Vec<Vec<String>> = got.iter().map(|g| g.rcpt_tos.clone()).collect();
    assert_eq!(
        rcpt,
        vec![vec!["leadership@example.com"], vec!["me@example.com"], vec!["data@example.com"]],
        "the real send, the --to preview, and the owners told that the forced rerun failed"
    );
}

#[test]
fn a_user_without_a_password_is_a_config_error_before_any_work() {
    let server = SmtpServer::start(Options::default());
    let p = project_for(&server, "user = \"reports\"");
    let out = p.run(&["run", "weekly-leadership", "--as-of", "2026-11-23"]);
    out.expect(2);
    assert_eq!(
        out.stderr.lines().next().unwrap(),
        "error: job `weekly-leadership` failed: `smtp.user` is set in pareto.toml but there is no password: set the environment variable PARETO_SMTP_PASSWORD"
    );
    assert!(!p.path(RUN_DIR).join("report.html").exists(), "no work was done");
    assert!(server.received().is_empty());
}

#[test]
fn to_flag_sends_only_to_that_address() {
    let server = SmtpServer::start(Options::default());
    let p = project_for(&server, "");
    p.file(
        "jobs/weekly-leadership.toml",
        &p.read("jobs/weekly-leadership.toml").replace("to = [", "cc = [\"cfo@example.com\"]\nbcc = [\"audit@example.com\"]\nto = ["),
    );
    p.run(&["run", "weekly-leadership", "--as-of", "2026-11-23", "--to", "me@example.com"]).expect(0);
    let got = server.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].rcpt_tos, vec!["me@example.com"]);
    let msg = MessageParser::default().parse(&got[0].raw).unwrap();
    assert_eq!(msg.to().unwrap().first().unwrap().address(), Some("me@example.com"));
    assert!(msg.cc().is_none());
}

#[test]
fn cc_and_bcc_receive_without_bcc_in_the_headers() {
    let server = SmtpServer::start(Options::default());
    let p = project_for(&server, "");
    p.file(
        "jobs/weekly-leadership.toml",
        &p.read("jobs/weekly-leadership.toml").replace("to = [", "cc = [\"cfo@example.com\"]\nbcc = [\"audit@example.com\"]\nto = ["),
    );
    p.run(&["run", "weekly-leadership", "--as-of", "2026-11-23"]).expect(0);
    // Each recipient gets its own envelope, To, Cc, then Bcc, and the very same bytes.
    let got = server.received();
    let rcpt: Vec<Vec<String>> = got.iter().map(|g| g.rcpt_tos.clone()).collect();
    assert_eq!(rcpt, vec![vec!["leadership@example.com"], vec!["cfo@example.com"], vec!["audit@example.com"]]);
    assert!(got.iter().all(|g| g.raw == got[0].raw));
    let raw = String::from_utf8_lossy(&got[0].raw);
    assert!(!raw.contains("audit@example.com"), "Bcc must not be in the message");
}

#[test]
fn unreachable_smtp_server_fails_with_exit_4_and_records_the_run() {
    let p = TestProject::bundled();
    lake::write(&p.root);
    let port = crate::support::closed_port();
    p.file("pareto.toml", &config(port, ""));
    let out = p.run(&["run", "weekly-leadership", "--as-of", "2026-11-23"]);
    out.expect(4);
    // Four lines saying what it waited for (one per retry), then the error.
    let (waits, rest): (Vec<&str>, Vec<&str>) = out.stderr.lines().partition(|l| l.starts_with("waiting for the mail server: "));
    assert_eq!(waits.len(), 4, "{}", out.stderr);
    assert!(waits[0].starts_with(&format!("waiting for the mail server: leadership@example.com: 127.0.0.1:{port}: Connection error: Connection refused (os error 111); check `smtp.host` and `smtp.port`, and that the server is up; trying again in ")), "{}", waits[0]);
    assert_eq!(
        rest.into_iter().take(3).collect::<Vec<_>>(),
        vec![
            format!("error: job `weekly-leadership` 2026-W47: sent to 0 of 1; not delivered, to try again: leadership@example.com (127.0.0.1:{port}: Connection error: Connection refused (os error 111); check `smtp.host` and `smtp.port`, and that the server is up)"),
            format!("  pending leadership@example.com: 127.0.0.1:{port}: Connection error: Connection refused (os error 111); check `smtp.host` and `smtp.port`, and that the server is up"),
            "the report is in archive/weekly-leadership/2026-W47; `pareto run weekly-leadership` again sends only to the recipients still pending".into(),
        ]
    );
    let run: serde_json::Value = serde_json::from_str(&p.read(&format!("{RUN_DIR}/run.json"))).unwrap();
    assert_eq!(run["outcome"], "failed");
    assert_eq!(run["deliveries"][0]["state"], "pending");
    // The report was built and archived even though it could not be sent.
    assert!(p.path(&format!("{RUN_DIR}/message.eml")).is_file());
}

#[test]
fn refused_recipient_fails_the_run() {
    let server = SmtpServer::start(Options { reject_rcpt: vec!["leadership@example.com"], ..Default::default() });
    let p = project_for(&server, "");
    let out = p.run(&["run", "weekly-leadership", "--as-of", "2026-11-23"]);
    out.expect(4);
    assert_eq!(
        out.stderr.lines().next().unwrap(),
        format!(
            "error: job `weekly-leadership` 2026-W47: sent to 0 of 1; rejected: leadership@example.com (127.0.0.1:{}: permanent error (550): 5.1.1 <leadership@example.com>: mailbox unavailable; the server refused the message (permanent): check the addresses and sender)",
            server.port
        )
    );
    // The owners hear about it; the refused address gets nothing.
    let got = server.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].rcpt_tos, vec!["data@example.com"]);
    let msg = MessageParser::default().parse(&got[0].raw).unwrap();
    assert_eq!(msg.subject(), Some("[pareto] weekly-leadership 2026-W47 not delivered"));
}

/// A message over `[render] max_message_mb` leaves its largest attachment out, says so in both
/// parts, and the archive keeps it.
#[test]
fn an_email_too_large_leaves_its_largest_attachment_in_the_archive_and_says_so() {
    let server = SmtpServer::start(Options::default());
    let p = TestProject::new();
    crate::support::lake::write(&p.root);
    p.file("pareto.toml", &format!("{}\n[render]\nmax_message_mb = 0.1\n", crate::support::config(server.port, "")));
    p.file(
        "jobs/big.toml",
        "name = \"big\"\nschedule = \"0 7 * * MON\"\nperiod = \"week\"\nqueries = [\"big\", \"small\"]\ntemplate = \"big\"\nsubject = \"Big\"\nto = [\"a@example.com\"]\nattach = [\"big\", \"small\"]\n",
    );
    p.file("queries/big.sql", "SELECT repeat('x', 200000) AS blob\n");
    p.file("queries/small.sql", "SELECT COUNT(*) AS orders FROM orders\n");
    p.file("templates/big.html.hbs", "<html><body><p>Orders: {{#each results.small.rows}}{{orders}}{{/each}}</p></body></html>\n");
    p.file("templates/big.txt.hbs", "Orders: {{#each results.small.rows}}{{orders}}{{/each}}\n");
    p.run(&["run", "big", "--as-of", "2026-11-23T07:00"]).expect(0);
    let got = server.received();
    assert_eq!(got.len(), 1);
    assert!(got[0].raw.len() < 100_000, "{} bytes", got[0].raw.len());
    let msg = MessageParser::default().parse(&got[0].raw).unwrap();
    let names: Vec<&str> = msg.attachments().map(|a| a.attachment_name().unwrap()).collect();
    assert_eq!(names, ["small-2026-W47.csv"]);
    let line =
        "Left out of this email because it would be too large to send: big-2026-W47.csv (0.2 MB). The report's archive folder keeps it.";
    assert_eq!(msg.body_text(0).unwrap().replace("\r\n", "\n"), format!("Orders: 7\n\n{line}\n"));
    let html = msg.body_html(0).unwrap().replace("\r\n", "\n");
    assert!(html.contains("The report&#x27;s archive folder keeps it.</td></tr></table>\n</body>"), "{html}");
    // The archive has the attachment, whole, and the parts as sent.
    assert_eq!(std::fs::metadata(p.path("archive/big/2026-W47/results/big.csv")).unwrap().len(), 200_006);
    assert_eq!(p.read("archive/big/2026-W47/report.txt"), format!("Orders: 7\n\n{line}\n"));
}

//! `pareto serve` and the ledger: a real daemon killed with -9 at each step and restarted, SMTP
//! faults from a real server, two daemons, `pareto run` racing the daemon, graceful stops, the
//! status endpoint; and, on a clock the test sets, catch-up, retries, one run at a time, a soak
//! of thousands of one-minute periods through daylight-saving changes, and a daily job over years.

use crate::support::daemon::{Serve, eventually, project};
use crate::support::smtp::{Options, Received, SmtpServer};
use chrono::{DateTime, Duration, TimeZone, Timelike, Utc};
use pareto::clock::{Clock, ManualClock};
use pareto::ledger::{Delivery, Ledger, Recipient, Run, State};
use pareto::runner::Pauses;
use pareto::serve::Daemon;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// The latest 06:00 UTC at or before now: `tick` fell due then, for the day before.
fn last_due() -> DateTime<Utc> {
    let now = Utc::now();
    let six = now.date_naive().and_hms_opt(6, 0, 0).unwrap().and_utc();
    if six <= now { six } else { six - Duration::days(1) }
}

fn period_of(due: DateTime<Utc>) -> String {
    (due - Duration::days(1)).format("%Y-%m-%d").to_string()
}

/// `--from` for a first start that finds exactly one period due: the last one.
fn from_arg() -> String {
    (last_due() - Duration::minutes(1)).format("%Y-%m-%dT%H:%M").to_string()
}

fn ledger(p: &crate::support::TestProject) -> Ledger {
    Ledger::open(&p.path("state")).unwrap()
}

fn row(p: &crate::support::TestProject, period: &str) -> Option<(Run, Vec<Recipient>)> {
    let l = ledger(p);
    let run = l.get("tick", period).unwrap()?;
    let r = l.recipients(run.id).unwrap();
    Some((run, r))
}

/// Reports in the mailbox per recipient (the owners' notices left out).
fn mailbox(server: &SmtpServer) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for r in reports(server) {
        for to in r.rcpt_tos {
            *m.entry(to).or_default() += 1;
        }
    }
    m
}

/// The reports the server took (not the owners' notices).
fn reports(server: &SmtpServer) -> Vec<Received> {
    server.received().into_iter().filter(|r| r.rcpt_tos != ["o@example.com"]).collect()
}

/// The subjects of the owners' notices.
fn notices(server: &SmtpServer) -> Vec<String> {
    server
        .received()
        .into_iter()
        .filter(|r| r.rcpt_tos == ["o@example.com"])
        .map(|r| {
            let text = String::from_utf8_lossy(&r.raw).to_string();
            text.lines().find_map(|l| l.strip_prefix("Subject: ").map(String::from)).unwrap_or_default()
        })
        .collect()
}

fn message_id(r: &Received) -> String {
    let text = String::from_utf8_lossy(&r.raw);
    text.lines().find_map(|l| l.strip_prefix("Message-ID: ")).unwrap_or_default().trim().to_string()
}

/// Kill -9 at each step, restart, and compare the ledger with the mailbox.
#[test]
fn a_daemon_killed_at_any_step_loses_no_period_and_sends_nothing_twice() {
    for step in ["after-claim", "after-render", "after-accept", "mid-send"] {
        let server = SmtpServer::start(Options::default());
        let p = project(server.port, "");
        let period = period_of(last_due());
        let mut first = Serve::start(&p, &["--from", &from_arg()], &[("PARETO_TEST_PAUSE", step)]);
        first.wait_for(&format!("pareto: paused at {step}"), 60);
        first.kill();
        let before = mailbox(&server);
        let (run, _) = row(&p, &period).unwrap();
        assert!(run.state.in_flight(), "{step}: killed mid-run, the ledger says {}", run.state);

        let mut second = Serve::start(&p, &[], &[]);
        let (run, recipients) =
            eventually(60, "the restarted daemon finishes the period", || row(&p, &period).filter(|(r, _)| !r.state.in_flight()));
        assert_eq!(second.term(), 0, "{}", second.stderr());

        let got = mailbox(&server);
        let states: Vec<(String, Delivery)> = recipients.iter().map(|r| (r.address.clone(), r.state)).collect();
        // Every recipient has the report exactly once, and the ledger says how it got there.
        assert_eq!(got, BTreeMap::from([("a@example.com".into(), 1), ("b@example.com".into(), 1)]), "{step}");
        match step {
            "after-accept" => {
                // Handed over, accepted, then killed before the answer was recorded: recorded as
                // unknown and not resent; b was sent by the restarted daemon.
                assert_eq!(before, BTreeMap::from([("a@example.com".into(), 1)]));
                assert_eq!(run.state, State::DeliveryUnknown);
                assert_eq!(states, vec![("a@example.com".into(), Delivery::Unknown), ("b@example.com".into(), Delivery::Sent)]);
                assert!(run.error.as_deref().unwrap().contains("delivery unknown"), "{:?}", run.error);
            }
            "mid-send" => {
                assert_eq!(before, BTreeMap::from([("a@example.com".into(), 1)]));
                assert_eq!(run.state, State::Sent);
                assert_eq!(states, vec![("a@example.com".into(), Delivery::Sent), ("b@example.com".into(), Delivery::Sent)]);
            }
            _ => {
                assert!(before.is_empty(), "{step}: nothing was sent before the kill");
                assert_eq!(run.state, State::Sent);
                assert_eq!(states, vec![("a@example.com".into(), Delivery::Sent), ("b@example.com".into(), Delivery::Sent)]);
            }
        }
        assert_eq!(run.attempts, 2, "{step}: the killed attempt and the one that finished");
        // Same bytes to everyone, the ones archived and stored in the outbox before any send.
        let (_, _, outbox) = ledger(&p).outbox(run.id).unwrap().remove(0);
        for r in &reports(&server) {
            // The server stores what it read; the end-of-data adds the final CRLF.
            crate::support::same_bytes(&r.raw, &[&outbox[..], b"\r\n"].concat());
            assert_eq!(message_id(r), format!("<pareto.tick.{period}@example.com>"));
        }
        assert_eq!(outbox, std::fs::read(p.path(&format!("archive/tick/{period}/message.eml"))).unwrap());
        // The owners hear of an unknown delivery, once; of nothing else.
        let want: Vec<String> = if step == "after-accept" { vec![format!("[pareto] tick {period} delivery unknown")] } else { vec![] };
        assert_eq!(notices(&server), want, "{step}");
    }
}

/// `pareto run` for the period `tick` fell due for last.
fn run_tick(p: &crate::support::TestProject, extra: &[&str]) -> crate::support::Out {
    let as_of = last_due().format("%Y-%m-%dT%H:%M").to_string();
    let mut args = vec!["run", "tick", "--as-of", &as_of];
    args.extend_from_slice(extra);
    // `--as-of` is in the job's zone, UTC.
    p.run(&args)
}

#[test]
fn a_second_daemon_on_the_same_state_exits_and_the_status_endpoint_answers() {
    let server = SmtpServer::start(Options::default());
    let port = crate::support::free_port();
    let p = project(server.port, "");
    status_on(&p, port);
    let mut first = Serve::start(&p, &["--from", &from_arg()], &[]);
    first.wait_for("pareto serve started", 60);
    let period = period_of(last_due());
    eventually(60, "the first daemon sends the due period", || row(&p, &period).filter(|(r, _)| r.state == State::Sent));

    let mut second = Serve::start(&p, &[], &[]);
    assert_eq!(second.exit_code(), 5);
    let pid = first.pid();
    assert_eq!(p.read("state/serve.lock"), format!("serve pid {pid}"));
    assert_eq!(
        second.stderr(),
        format!(
            "error: another pareto serve (serve pid {pid}) is using the state folder state; stop it first, or give this one its own `state` in pareto.toml"
        )
    );

    let health = get(port, "/healthz");
    assert!(health.starts_with("HTTP/1.1 200 OK\r\n"), "{health}");
    let body: serde_json::Value = serde_json::from_str(health.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["pid"], pid);
    let runs = get(port, "/runs?job=tick");
    let body: serde_json::Value = serde_json::from_str(runs.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(body["runs"][0]["period"], period.as_str());
    assert_eq!(body["runs"][0]["state"], "sent");
    assert!(get(port, "/nope").starts_with("HTTP/1.1 404 Not Found\r\n"));

    assert_eq!(first.term(), 0);
    first.wait_for("stopped", 5);
    assert_eq!(mailbox(&server), BTreeMap::from([("a@example.com".into(), 1), ("b@example.com".into(), 1)]));
}

/// Turn the project's status endpoint on, at `port`.
fn status_on(p: &crate::support::TestProject, port: u16) {
    p.file("pareto.toml", &p.read("pareto.toml").replace("status = \"off\"", &format!("status = \"127.0.0.1:{port}\"")));
}

fn get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    // Sent in two writes, split inside the path on purpose: the server must wait for the whole
    // request head, as clients split their writes as they please.
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n");
    s.write_all(&request.as_bytes()[..6]).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(50));
    s.write_all(&request.as_bytes()[6..]).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn pareto_run_racing_the_daemon_never_sends_a_period_twice() {
    let server = SmtpServer::start(Options::default());
    let p = project(server.port, "");
    let period = period_of(last_due());
    // The daemon has rendered the period and holds the job: `pareto run` must not send it.
    let mut daemon = Serve::start(&p, &["--from", &from_arg()], &[("PARETO_TEST_PAUSE", "after-render")]);
    daemon.wait_for("pareto: paused at after-render", 60);
    let pid = daemon.pid();
    let out = run_tick(&p, &[]);
    out.expect(5);
    assert_eq!(
        out.stderr,
        format!(
            "error: job `tick` is running in another process (serve pid {pid}); nothing was done. Wait for it, or see `pareto history tick`\n"
        )
    );
    assert!(server.received().is_empty());

    // The daemon dies; `pareto run` picks up its outbox and sends the very bytes it stored.
    daemon.kill();
    let out = run_tick(&p, &[]);
    out.expect(0);
    assert_eq!(
        out.stdout.lines().next().unwrap(),
        format!("sent tick {period} to a@example.com, b@example.com: Tick · {period} (resumed from the outbox)")
    );
    // A restarted daemon and another `pareto run` find nothing to do.
    let mut again = Serve::start(&p, &[], &[]);
    again.wait_for("pareto serve started", 60);
    let out = run_tick(&p, &[]);
    out.expect(0);
    assert!(out.stdout.starts_with(&format!("tick {period} was already sent on ")), "{}", out.stdout);
    assert!(out.stdout.contains(" by run pid "), "{}", out.stdout);
    assert_eq!(again.term(), 0);
    assert_eq!(mailbox(&server), BTreeMap::from([("a@example.com".into(), 1), ("b@example.com".into(), 1)]));

    // --force sends it again, to everyone, with the same Message-ID.
    run_tick(&p, &["--force"]).expect(0);
    assert_eq!(mailbox(&server), BTreeMap::from([("a@example.com".into(), 2), ("b@example.com".into(), 2)]));
    let ids: BTreeSet<String> = reports(&server).iter().map(message_id).collect();
    assert_eq!(ids, BTreeSet::from([format!("<pareto.tick.{period}@example.com>")]));
    let (run, _) = row(&p, &period).unwrap();
    assert_eq!((run.state, run.sends), (State::Sent, 2));

    // History shows it.
    let out = p.run(&["history", "tick"]);
    out.expect(0);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], format!("{:<4}  {:<10}  {:<16}  {:<21}  {:>3}  {:>8}  ERROR", "JOB", "PERIOD", "STATE", "DUE", "TRY", "TOOK"));
    let due = format!("{} UTC", last_due().format("%Y-%m-%d %H:%M"));
    assert!(lines[1].starts_with(&format!("{:<4}  {:<10}  {:<16}  {:<21}  {:>3}  ", "tick", period, "sent", due, 3)), "{}", out.stdout);
    let out = p.run(&["history", "tick", &period]);
    out.expect(0);
    assert!(out.stdout.starts_with(&format!("tick {period}: sent after 3 attempt(s), sent 2 time(s)\n")), "{}", out.stdout);
    assert!(out.stdout.contains("  sent      a@example.com (1 attempt(s)): 250 2.0.0 OK queued as"), "{}", out.stdout);
    assert!(out.stdout.contains("claimed: --force: render and send again"), "{}", out.stdout);
}

#[test]
fn sigterm_lets_a_running_job_finish() {
    // The server takes 2 s to answer the first message: the daemon is mid-send when told to stop.
    let server = SmtpServer::start(Options { stalls: vec!["data=2*1"], ..Default::default() });
    let p = project(server.port, "");
    let period = period_of(last_due());
    let mut daemon = Serve::start(&p, &["--from", &from_arg()], &[]);
    eventually(60, "the daemon starts sending", || row(&p, &period).filter(|(r, _)| r.state == State::Sending));
    assert_eq!(daemon.term(), 0);
    assert!(daemon.stderr().contains("stopping: waiting for running jobs to finish"), "{}", daemon.stderr());
    let (run, _) = row(&p, &period).unwrap();
    assert_eq!(run.state, State::Sent);
    assert_eq!(mailbox(&server), BTreeMap::from([("a@example.com".into(), 1), ("b@example.com".into(), 1)]));
}

/// SMTP faults, each from the real server, through `pareto run`.
#[test]
fn temporary_smtp_failures_are_retried_and_permanent_ones_reported() {
    // 421 on MAIL once, 450 on RCPT twice, 451 at the end of DATA once: all retried (four
    // retries is the default), and each recipient gets one copy.
    let server = SmtpServer::start(Options {
        faults: vec!["mail=421 4.3.2 Service shutting down*1", "rcpt=450 4.2.1 Mailbox busy*2", "data=451 4.3.0 Local error*1"],
        ..Default::default()
    });
    let p = project(server.port, "");
    let period = period_of(last_due());
    let out = run_tick(&p, &[]);
    out.expect(0);
    // With the default log level, the run says what it is waiting for.
    let waits: Vec<&str> = out.stderr.lines().filter(|l| l.starts_with("waiting for the mail server: ")).collect();
    assert_eq!(waits.len(), 4, "{}", out.stderr);
    assert!(waits[0].starts_with("waiting for the mail server: a@example.com: "), "{}", waits[0]);
    assert!(waits[0].contains("(421): 4.3.2 Service shutting down") && waits[0].contains("; trying again in "), "{}", waits[0]);
    assert!(waits[0].ends_with(" ms (retry 1 of 4)"), "{}", waits[0]);
    assert!(waits[3].contains("(451)") && waits[3].ends_with(" ms (retry 4 of 4)"), "{}", waits[3]);
    assert_eq!(mailbox(&server), BTreeMap::from([("a@example.com".into(), 1), ("b@example.com".into(), 1)]));
    let (run, r) = row(&p, &period).unwrap();
    assert_eq!(run.state, State::Sent);
    assert_eq!((r[0].attempts, r[1].attempts), (5, 1), "a@ met all four faults; b@ none");

    // 550 for one recipient: the other still gets it; the refusal is reported, and the owners told.
    let server = SmtpServer::start(Options { reject_rcpt: vec!["b@example.com"], ..Default::default() });
    let p = project(server.port, "");
    let out = run_tick(&p, &[]);
    out.expect(4);
    assert_eq!(
        out.stderr.lines().next().unwrap(),
        format!(
            "error: job `tick` {period}: sent to 1 of 2; rejected: b@example.com (127.0.0.1:{}: permanent error (550): 5.1.1 <b@example.com>: mailbox unavailable; the server refused the message (permanent): check the addresses and sender)",
            server.port
        )
    );
    assert_eq!(mailbox(&server), BTreeMap::from([("a@example.com".into(), 1)]));
    assert_eq!(notices(&server), vec![format!("[pareto] tick {period} not delivered")]);
    let (run, r) = row(&p, &period).unwrap();
    assert_eq!((run.state, run.next_try_at, r[1].state), (State::Failed, None, Delivery::Rejected), "a refusal is not retried");
    // Running it again sends nothing more, and does not tell the owners twice.
    run_tick(&p, &[]).expect(4);
    assert_eq!(mailbox(&server), BTreeMap::from([("a@example.com".into(), 1)]));
    assert_eq!(notices(&server).len(), 1);

    // A server that keeps answering 450: retries run out, the recipients stay pending, and a
    // later run sends them the stored message.
    let busy = SmtpServer::start(Options { faults: vec!["rcpt=450 4.2.1 Mailbox busy"], ..Default::default() });
    let server = SmtpServer::start(Options::default());
    let p = project(busy.port, "");
    let out = run_tick(&p, &[]);
    out.expect(4);
    // After the lines saying what it waited for, the error.
    let error = out.stderr.lines().skip_while(|l| l.starts_with("waiting for the mail server: ")).collect::<Vec<_>>().join("\n");
    assert!(error.starts_with(&format!("error: job `tick` {period}: sent to 0 of 2; not delivered, to try again: a@example.com (127.0.0.1:{}: transient error (450): 4.2.1 Mailbox busy; the server asked to try again later (temporary))", busy.port)), "{}", out.stderr);
    assert_eq!(out.stderr.lines().filter(|l| l.starts_with("waiting for the mail server: ")).count(), 8, "four retries each");
    let (run, r) = row(&p, &period).unwrap();
    assert_eq!((run.state, r[0].attempts, r[0].state), (State::Failed, 5, Delivery::Pending), "one try and four retries");
    assert!(run.next_try_at.is_some(), "the daemon tries again later");
    p.file("pareto.toml", &p.read("pareto.toml").replace(&format!("port = {}", busy.port), &format!("port = {}", server.port)));
    let out = run_tick(&p, &[]);
    out.expect(0);
    assert_eq!(
        out.stdout.lines().next().unwrap(),
        format!("sent tick {period} to a@example.com, b@example.com: Tick · {period} (resumed from the outbox)")
    );
    let (_, _, outbox) = ledger(&p).outbox(run.id).unwrap().remove(0);
    for r in reports(&server) {
        crate::support::same_bytes(&r.raw, &[&outbox[..], b"\r\n"].concat());
    }
    assert_eq!(mailbox(&server), BTreeMap::from([("a@example.com".into(), 1), ("b@example.com".into(), 1)]));
}

#[test]
fn a_stalled_server_is_timed_out_and_a_lost_answer_is_recorded_as_unknown() {
    // RCPT stalls past the 1 s timeout once: retried. After the message, the server stores it and
    // stalls past the timeout once: the answer is lost, so a@ is unknown and not resent.
    let server = SmtpServer::start(Options { stalls: vec!["rcpt=3*1", "after-data=3*1"], ..Default::default() });
    let p = project(server.port, "");
    p.file("pareto.toml", &p.read("pareto.toml").replace("timeout_secs = 5", "timeout_secs = 1"));
    let period = period_of(last_due());
    let out = run_tick(&p, &[]);
    out.expect(4);
    let (run, r) = row(&p, &period).unwrap();
    assert_eq!(run.state, State::DeliveryUnknown);
    assert_eq!((r[0].state, r[0].attempts, r[1].state), (Delivery::Unknown, 2, Delivery::Sent));
    assert_eq!(
        r[0].reply.as_deref(),
        Some(
            format!(
                "127.0.0.1:{}: the message was handed over but the server did not answer within 1s; it may have been delivered",
                server.port
            )
            .as_str()
        )
    );
    assert_eq!(mailbox(&server), BTreeMap::from([("a@example.com".into(), 1), ("b@example.com".into(), 1)]), "a@ got it after all");
    assert_eq!(notices(&server), vec![format!("[pareto] tick {period} delivery unknown")]);
    // Not resent without --force.
    let out = run_tick(&p, &[]);
    out.expect(4);
    assert!(out.stderr.contains("whether it arrived is unknown"), "{}", out.stderr);
    assert!(out.stderr.ends_with("check the recipients' mailboxes; send it again with --force\n"), "{}", out.stderr);
    assert_eq!(mailbox(&server).values().sum::<usize>(), 2);
}

// ---- The daemon on a clock the test sets ----

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// A daemon over `p` on a manual clock, looking at schedules from `from` on a first start.
fn daemon(p: &crate::support::TestProject, clock: &Arc<ManualClock>, from: DateTime<Utc>) -> Daemon {
    let project = pareto::project::load(&p.root, &BTreeMap::new()).unwrap_or_else(|ps| panic!("{ps:?}"));
    Daemon {
        project: Arc::new(project),
        ledger: Arc::new(ledger(p)),
        clock: clock.clone(),
        pauses: Pauses::default(),
        from: Some(from),
        stopping: Default::default(),
    }
}

/// Set the clock to `at`, let the daemon find what is due, and run it to the end.
async fn tick(d: &Daemon, clock: &ManualClock, at: DateTime<Utc>) {
    clock.set(at);
    let work = d.due(at, &BTreeSet::new()).await.unwrap();
    tell(d, &BTreeSet::new()).await;
    for w in work {
        d.work(w).await;
    }
}

/// Tell the owners of every job not `running` of its untold skipped periods, as the loop does
/// beside the schedule.
async fn tell(d: &Daemon, running: &BTreeSet<String>) {
    for job in d.untold(running).unwrap() {
        d.tell(&job).await.unwrap();
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

fn ids(server: &SmtpServer) -> Vec<String> {
    server.received().iter().map(message_id).collect()
}

#[test]
fn after_downtime_catch_up_sends_none_the_latest_or_n_and_skips_the_rest_with_one_notice() {
    let server = SmtpServer::start(Options::default());
    let p = project(server.port, "");
    std::fs::remove_file(p.path("jobs/tick.toml")).unwrap();
    for (name, policy) in [("none", "\"none\""), ("latest", "\"latest\""), ("two", "2")] {
        let job = crate::support::daemon::JOB
            .replace("name = \"tick\"", &format!("name = \"{name}\"\ncatch_up = {policy}"))
            .replace("to = [\"a@example.com\", \"b@example.com\"]", &format!("to = [\"{name}@example.com\"]"));
        p.file(&format!("jobs/{name}.toml"), &job);
    }
    let clock = Arc::new(ManualClock::new(utc("2026-11-01T05:00:00Z")));
    let d = daemon(&p, &clock, utc("2026-11-01T05:00:00Z"));
    runtime().block_on(async {
        // On time: every job sends 2026-10-31.
        tick(&d, &clock, utc("2026-11-01T06:00:30Z")).await;
        assert_eq!(server.received().len(), 3);
        // Down from then until 6 November 09:00: 2026-11-01 … 2026-11-05 were due meanwhile.
        tick(&d, &clock, utc("2026-11-06T09:00:00Z")).await;
    });
    let l = ledger(&p);
    for (name, sent) in [("none", vec![]), ("latest", vec!["2026-11-05"]), ("two", vec!["2026-11-04", "2026-11-05"])] {
        let mut got_sent = Vec::new();
        for day in 1..=5 {
            let period = format!("2026-11-{day:02}");
            let run = l.get(name, &period).unwrap().unwrap();
            if sent.contains(&period.as_str()) {
                assert_eq!(run.state, State::Sent, "{name} {period}");
                got_sent.push(period);
            } else {
                assert_eq!(run.state, State::Skipped, "{name} {period}");
                let due = chrono::NaiveDate::from_ymd_opt(2026, 11, day + 1).unwrap().format("%a %Y-%m-%d");
                let policy = match name {
                    "none" => "\"none\"",
                    "latest" => "\"latest\"",
                    _ => "2",
                };
                assert_eq!(
                    run.error.as_deref().unwrap(),
                    format!(
                        "missed: due {due} 06:00 UTC while the daemon was not running; catch_up = {policy} sends only the latest {}",
                        sent.len()
                    ),
                    "{name} {period}"
                );
            }
        }
        assert_eq!(got_sent, sent, "{name}");
    }
    let subjects: Vec<String> = notices_to(&server, "o@example.com");
    assert_eq!(
        subjects,
        vec![
            "[pareto] latest 2026-11-01..2026-11-04 skipped".to_string(),
            "[pareto] none 2026-11-01..2026-11-05 skipped".to_string(),
            "[pareto] two 2026-11-01..2026-11-03 skipped".to_string(),
        ]
    );
    // Each period sent went out once.
    let mut all = ids(&server);
    let n = all.len();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), n);
    assert_eq!(n, 3 + 3 + 3, "three on time, latest 1 + two 2 reports, three notices");
}

/// A minute job down for an hour: the minutes less than ten minutes late go out, and of the
/// missed ones only the latest (`catch_up = "latest"`); the one notice lists the latest 20 of the
/// 49 skipped with the command that sends each, then counts the rest.
#[test]
fn a_long_outage_of_a_minute_job_is_one_short_notice() {
    let server = SmtpServer::start(Options::default());
    let p = project(server.port, "");
    p.file("jobs/tick.toml", &crate::support::daemon::JOB.replace("0 6 * * *", "* * * * *").replace("\"day\"", "\"minute\""));
    let clock = Arc::new(ManualClock::new(utc("2026-11-01T05:00:00Z")));
    let d = daemon(&p, &clock, utc("2026-11-01T05:00:00Z"));
    runtime().block_on(tick(&d, &clock, utc("2026-11-01T06:00:30Z")));
    let runs = ledger(&p).history(Some("tick"), 1000).unwrap();
    assert_eq!(runs.len(), 60);
    let sent: Vec<&str> = runs.iter().filter(|r| r.state == State::Sent).map(|r| r.period.as_str()).collect();
    assert_eq!(sent, (49..=59).rev().map(|m| format!("2026-11-01T05{m:02}")).collect::<Vec<_>>());
    assert!(runs[11..].iter().all(|r| r.state == State::Skipped));
    assert_eq!(runs[59].period, "2026-11-01T0500");

    let notice = server.received().into_iter().find(|r| r.rcpt_tos == ["o@example.com"]).unwrap();
    let msg = mail_parser::MessageParser::default().parse(&notice.raw).unwrap();
    assert_eq!(msg.subject(), Some("[pareto] tick 2026-11-01T0500..2026-11-01T0548 skipped"));
    let text = msg.body_text(0).unwrap().replace("\r\n", "\n");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "These tick reports were not sent:");
    assert_eq!(
        lines[2],
        "  - 2026-11-01T0529 (Sun 1 Nov 2026 05:29–05:30): missed: due Sun 2026-11-01 05:30 UTC while the daemon was not running; catch_up = \"latest\" sends only the latest 1"
    );
    assert_eq!(lines[3], "      send it with: pareto run tick --as-of 2026-11-01T05:30");
    assert_eq!(lines[41], "      send it with: pareto run tick --as-of 2026-11-01T05:49");
    assert_eq!(lines[42], "  … and 29 earlier ones; `pareto history tick` lists them all");
    assert_eq!(lines.len(), 43);

    // The suggested command sends that minute.
    p.run(&["run", "tick", "--as-of", "2026-11-01T05:30"]).expect(0);
    assert_eq!(ledger(&p).get("tick", "2026-11-01T0529").unwrap().unwrap().state, State::Sent);
    assert_eq!(mailbox(&server), BTreeMap::from([("a@example.com".into(), 12), ("b@example.com".into(), 12)]));
}

/// Subjects of the messages to `to`, sorted.
fn notices_to(server: &SmtpServer, to: &str) -> Vec<String> {
    let mut v: Vec<String> = server
        .received()
        .into_iter()
        .filter(|r| r.rcpt_tos == [to])
        .map(|r| String::from_utf8_lossy(&r.raw).lines().find_map(|l| l.strip_prefix("Subject: ").map(String::from)).unwrap_or_default())
        .collect();
    v.sort();
    v
}

#[test]
fn a_failed_period_is_retried_later_and_the_owners_told_once() {
    // a@ is refused with 450 five times: one try and four retries, then the daemon waits
    // `serve.retry_minutes` (30) and sends to a@ only.
    let server = SmtpServer::start(Options { faults: vec!["rcpt=450 4.2.1 Mailbox busy*5"], ..Default::default() });
    let p = project(server.port, "");
    let clock = Arc::new(ManualClock::new(utc("2026-11-01T05:00:00Z")));
    let d = daemon(&p, &clock, utc("2026-11-01T05:00:00Z"));
    runtime().block_on(async {
        tick(&d, &clock, utc("2026-11-01T06:00:00Z")).await;
        let (run, r) = row(&p, "2026-10-31").unwrap();
        assert_eq!((run.state, r[0].state, r[1].state), (State::Failed, Delivery::Pending, Delivery::Sent));
        assert_eq!(run.next_try_at, Some(utc("2026-11-01T06:30:00Z")));
        tick(&d, &clock, utc("2026-11-01T06:20:00Z")).await;
        assert_eq!(row(&p, "2026-10-31").unwrap().0.attempts, 1, "not yet");
        tick(&d, &clock, utc("2026-11-01T06:30:00Z")).await;
    });
    let (run, r) = row(&p, "2026-10-31").unwrap();
    assert_eq!((run.state, run.attempts, r[0].state, r[0].attempts), (State::Sent, 2, Delivery::Sent, 6));
    assert_eq!(mailbox(&server), BTreeMap::from([("a@example.com".into(), 1), ("b@example.com".into(), 1)]));
    assert_eq!(notices(&server), vec!["[pareto] tick 2026-10-31 not delivered".to_string()]);
}

#[test]
fn a_period_due_while_the_previous_run_is_still_going_is_skipped() {
    let server = SmtpServer::start(Options::default());
    let p = project(server.port, "");
    p.file("jobs/tick.toml", &crate::support::daemon::JOB.replace("0 6 * * *", "* * * * *").replace("\"day\"", "\"minute\""));
    let clock = Arc::new(ManualClock::new(utc("2026-11-01T05:59:30Z")));
    let d = daemon(&p, &clock, utc("2026-11-01T05:59:30Z"));
    runtime().block_on(async {
        // Three wake-ups while the job runs elsewhere: three minutes skipped, nobody told yet.
        let running = BTreeSet::from(["tick".to_string()]);
        for at in ["2026-11-01T06:00:00Z", "2026-11-01T06:01:00Z", "2026-11-01T06:02:00Z"] {
            clock.set(utc(at));
            assert!(d.due(clock.now(), &running).await.unwrap().is_empty(), "nothing starts beside a running job");
            tell(&d, &running).await;
        }
        assert_eq!(notices(&server), Vec::<String>::new());
        // The job is free: one notice for the three, and the next minute runs.
        clock.set(utc("2026-11-01T06:02:30Z"));
        let work = d.due(clock.now(), &BTreeSet::new()).await.unwrap();
        tell(&d, &BTreeSet::new()).await;
        assert_eq!(work.len(), 0, "no period fell due since the last wake-up");
        clock.set(utc("2026-11-01T06:03:00Z"));
        assert_eq!(d.due(clock.now(), &BTreeSet::new()).await.unwrap()[0].runs[0].period, "2026-11-01T0602");
    });
    for period in ["2026-11-01T0559", "2026-11-01T0600", "2026-11-01T0601"] {
        let (run, _) = row(&p, period).unwrap();
        assert_eq!((run.state, run.error.as_deref()), (State::Skipped, Some("the job's previous run was still going")));
        let told: Vec<String> = ledger(&p).events(run.id).unwrap().into_iter().map(|e| e.state).collect();
        assert_eq!(told, ["skipped", "owners told"], "{period}");
    }
    assert_eq!(notices(&server), vec!["[pareto] tick 2026-11-01T0559..2026-11-01T0601 skipped".to_string()]);
}

/// A skipped-period notice that cannot be delivered is recorded as such and not tried again on
/// every wake-up.
#[test]
fn a_skipped_notice_that_fails_is_tried_once() {
    let server = SmtpServer::start(Options { reject_rcpt: vec!["o@example.com"], ..Options::default() });
    let p = project(server.port, "");
    let clock = Arc::new(ManualClock::new(utc("2026-11-01T05:00:00Z")));
    let d = daemon(&p, &clock, utc("2026-11-01T05:00:00Z"));
    runtime().block_on(async {
        clock.set(utc("2026-11-01T06:00:00Z"));
        d.due(clock.now(), &BTreeSet::from(["tick".to_string()])).await.unwrap();
        tell(&d, &BTreeSet::from(["tick".to_string()])).await;
        for at in ["2026-11-01T06:00:30Z", "2026-11-01T06:01:00Z"] {
            clock.set(utc(at));
            assert!(d.due(clock.now(), &BTreeSet::new()).await.unwrap().is_empty());
            tell(&d, &BTreeSet::new()).await;
        }
    });
    let (run, _) = row(&p, "2026-10-31").unwrap();
    let events: Vec<(String, String)> =
        ledger(&p).events(run.id).unwrap().into_iter().map(|e| (e.state, e.detail.unwrap_or_default())).collect();
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[1].0, "owners not told");
    assert!(events[1].1.starts_with("could not tell the owners: o@example.com: "), "{}", events[1].1);
    assert!(server.received().is_empty());
}

/// A clock that ticks at odd moments: steps of 1 s up to `max_step_secs`, about one tick in seven
/// given twice, and about one in a hundred followed by a restart of the daemon. Returns the last
/// instant and the number of ticks.
fn soak(p: &crate::support::TestProject, start: DateTime<Utc>, end: DateTime<Utc>, max_step_secs: u64) -> (DateTime<Utc>, usize) {
    let clock = Arc::new(ManualClock::new(start));
    let rt = runtime();
    let mut d = daemon(p, &clock, start);
    let mut seed: u64 = 0x9e3779b97f4a7c15;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let (mut now, mut ticks) = (start, 0);
    while now < end {
        let r = next();
        now += Duration::seconds(1 + (r % max_step_secs) as i64);
        rt.block_on(tick(&d, &clock, now));
        if r % 7 == 0 {
            rt.block_on(tick(&d, &clock, now)); // the same tick twice
        }
        if r % 97 == 0 {
            d = daemon(p, &clock, start); // a restart
        }
        ticks += 1;
    }
    (now, ticks)
}

/// Thousands of one-minute periods on an accelerated clock that ticks at odd moments, twice at
/// the same instant, late, and with restarts, through Amsterdam's spring-forward gap and autumn
/// fold: the periods sent cover every instant exactly once, each in one email, and orders placed
/// at the edges of the gap and in both passes of the fold are each counted once.
#[test]
fn soak_thousands_of_one_minute_periods_none_missed_none_twice() {
    use crate::support::lake::{orders_batch, write_parquet};
    use pareto::period::{Period, PeriodKind};
    let server = SmtpServer::start(Options::default());
    let tz: chrono_tz::Tz = "Europe/Amsterdam".parse().unwrap();
    let orders = orders_batch(&[
        (901, 1, "2026-03-29T00:59:30Z", 100, None, "web"), // 01:59:30 CET, the minute before the gap
        (902, 1, "2026-03-29T01:00:00Z", 100, None, "web"), // 03:00 CEST, the first instant after it
        (903, 1, "2026-10-25T00:30:00Z", 100, None, "web"), // 02:30 CEST, the fold's first pass
        (904, 1, "2026-10-25T01:30:00Z", 100, None, "web"), // 02:30 CET, its second pass
        (905, 1, "2026-10-25T01:59:59Z", 100, None, "web"), // the fold's last second
        (906, 1, "2026-10-25T02:00:00Z", 100, None, "web"), // 03:00 CET
    ]);
    let mut periods = 0;
    let mut ticks = 0;
    for start in ["2026-03-28T12:00:00Z", "2026-10-24T12:00:00Z"] {
        let p = project(server.port, "");
        p.file(
            "jobs/tick.toml",
            &crate::support::daemon::JOB
                .replace("schedule = \"0 6 * * *\"", "schedule = \"* * * * *\"")
                .replace("timezone = \"UTC\"", "timezone = \"Europe/Amsterdam\"")
                .replace("period = \"day\"", "period = \"minute\"")
                .replace("to = [\"a@example.com\", \"b@example.com\"]", "to = [\"a@example.com\"]"),
        );
        write_parquet(&p.path("lake/orders/part-soak.parquet"), &orders);
        let start = utc(start);
        // Steps of up to nine minutes: late, but never so late that a period counts as missed.
        let (now, n) = soak(&p, start, start + Duration::minutes(1200), 540);
        ticks += n;

        let mut runs = ledger(&p).history(Some("tick"), 100_000).unwrap();
        runs.sort_by(|a, b| a.period.cmp(&b.period));
        assert!(runs.iter().all(|r| r.state == State::Sent && r.sends == 1 && r.attempts == 1), "every period sent once, first time");
        // The periods tile time from the daemon's start to the last minute that came due.
        let ps: Vec<Period> = runs.iter().map(|r| Period::last_complete(PeriodKind::Minute, r.due_at, tz)).collect();
        assert_eq!(ps.iter().map(|p| p.label()).collect::<Vec<_>>(), runs.iter().map(|r| r.period.clone()).collect::<Vec<_>>());
        assert_eq!(ps[0].start_instant(tz), start);
        for w in ps.windows(2) {
            assert_eq!(w[0].end_instant(tz), w[1].start_instant(tz), "{} then {}: no gap, no overlap", w[0].label(), w[1].label());
        }
        let last_due = *pareto::schedule::occurrences(&"* * * * *".parse().unwrap(), tz, start, now).last().unwrap();
        assert_eq!(ps.last().unwrap().end_instant(tz), last_due);
        periods += runs.len();
    }
    assert!(periods > 2000, "{periods} periods");

    let received = server.received();
    assert_eq!(received.len(), periods, "one email per period ({ticks} ticks)");
    let mut sent = ids(&server);
    sent.sort();
    sent.dedup();
    assert_eq!(sent.len(), periods, "no period twice");
    let counted: BTreeMap<String, String> = received
        .iter()
        .map(|r| mail_parser::MessageParser::default().parse(&r.raw).unwrap().body_text(0).unwrap().trim().to_string())
        .filter(|t| !t.ends_with(": 0 orders"))
        .map(|t| t.split_once(": ").map(|(a, b)| (a.to_string(), b.to_string())).unwrap())
        .collect();
    assert_eq!(
        counted,
        BTreeMap::from([
            ("2026-03-29T0159".into(), "1 orders".into()),
            ("2026-03-29T0300".into(), "1 orders".into()),
            ("2026-10-25T0230".into(), "1 orders".into()),
            ("2026-10-25T0259".into(), "2 orders".into()), // 02:59 CEST until 03:00 CET: the repeated hour
            ("2026-10-25T0300".into(), "1 orders".into()),
        ])
    );
}

/// A daily job at 02:30 local over two years of Amsterdam's clock changes, on the same odd
/// clock: every local day is sent exactly once, at 02:30 or right after the spring gap.
#[test]
fn a_daily_job_across_years_of_daylight_saving_runs_once_a_day() {
    let server = SmtpServer::start(Options::default());
    let p = project(server.port, "");
    // 02:30 local: inside the spring-forward gap once a year and twice in the autumn fold.
    p.file(
        "jobs/tick.toml",
        &crate::support::daemon::JOB
            .replace("schedule = \"0 6 * * *\"", "schedule = \"30 2 * * *\"")
            .replace("timezone = \"UTC\"", "timezone = \"Europe/Amsterdam\"")
            .replace("to = [\"a@example.com\", \"b@example.com\"]", "to = [\"a@example.com\"]"),
    );
    let tz: chrono_tz::Tz = "Europe/Amsterdam".parse().unwrap();
    let start = tz.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap().with_timezone(&Utc);
    let days = 730;
    // Steps of up to nine hours, so no tick ever jumps a whole day.
    let (now, ticks) = soak(&p, start, start + Duration::days(days), 9 * 3600);
    let runs = ledger(&p).history(Some("tick"), 100_000).unwrap();
    // Every local day whose 02:30 run came due before the end.
    let mut want = BTreeSet::new();
    for occ in pareto::schedule::occurrences(&"30 2 * * *".parse().unwrap(), tz, start, now) {
        want.insert((occ.with_timezone(&tz).date_naive() - chrono::Duration::days(1)).to_string());
    }
    assert!(want.len() as i64 >= days - 1, "{} periods over {days} days", want.len());
    let got: BTreeSet<String> = runs.iter().map(|r| r.period.clone()).collect();
    assert_eq!(got, want, "one ledger row per local day");
    assert!(runs.iter().all(|r| r.state == State::Sent && r.sends == 1 && r.attempts == 1), "every period sent once, first time");
    let mut sent = ids(&server);
    assert_eq!(sent.len(), want.len(), "one email per period ({ticks} ticks)");
    sent.sort();
    sent.dedup();
    assert_eq!(sent.len(), want.len(), "no period twice");
    // The run happened at 02:30 local, or right after the spring gap (03:00), never twice a day.
    for r in &runs {
        let local = r.due_at.with_timezone(&tz);
        assert!((local.hour(), local.minute()) == (2, 30) || (local.hour(), local.minute()) == (3, 0), "{r:?}");
    }
}

/// `pareto serve` runs the bundled jobs on their schedules: on a fresh sample lake, a daemon
/// looking back eight days sends each job's latest due period once, skips the older ones with a
/// notice, and the ledger and the mailbox agree.
#[test]
fn serve_runs_the_bundled_jobs_on_their_schedules() {
    let server = SmtpServer::start(Options::default());
    let p = crate::support::TestProject::bundled();
    p.file("pareto.toml", &format!("{}\n[serve]\nstatus = \"off\"\n", crate::support::config(server.port, "")));
    let today = Utc::now().format("%Y-%m-%d").to_string();
    p.run(&["generate", "--out", "lake", "--customers", "300", "--until", &today]).expect(0);
    let from = (Utc::now() - Duration::days(8)).format("%Y-%m-%dT%H:%M").to_string();
    let mut serve = Serve::start(&p, &["--once", "--from", &from], &[]);
    assert_eq!(serve.exit_code(), 0, "{}", serve.stderr());

    let l = ledger(&p);
    let received = server.received();
    let project = pareto::project::load(&p.root, &BTreeMap::new()).unwrap();
    for job in &project.jobs {
        let due = pareto::schedule::occurrences(&job.cron, job.tz, utc(&format!("{from}:00Z")), Utc::now());
        let runs = l.history(Some(&job.name), 100).unwrap();
        assert_eq!(runs.len(), {
            let mut periods: Vec<String> =
                due.iter().map(|t| pareto::period::Period::last_complete(job.period, *t, job.tz).label()).collect();
            periods.dedup();
            periods.len()
        });
        for (i, run) in runs.iter().enumerate() {
            // A bursting job sends one message per group, each with the group in its Message-ID.
            let copies = received
                .iter()
                .filter(|r| {
                    let id = message_id(r);
                    id == format!("<pareto.{}.{}@example.com>", job.name, run.period)
                        || (job.burst.is_some() && id.starts_with(&format!("<pareto.{}.{}.", job.name, run.period)))
                })
                .count();
            if i == 0 {
                // The latest: sent, or (the alerts job) nothing fired.
                assert!(matches!(run.state, State::Sent | State::Skipped), "{} {}: {:?}", job.name, run.period, run);
                let recipients = l.recipients(run.id).unwrap();
                assert!(recipients.iter().all(|r| r.state == Delivery::Sent));
                assert_eq!(copies, recipients.len(), "{} {}", job.name, run.period);
            } else {
                assert_eq!(run.state, State::Skipped, "{} {}", job.name, run.period);
                assert_eq!(copies, 0);
            }
        }
        let notices =
            notices_to(&server, "data@example.com").into_iter().filter(|s| s.starts_with(&format!("[pareto] {} ", job.name))).count();
        assert_eq!(notices, usize::from(runs.len() > 1), "{}: one notice for the skipped periods", job.name);
    }
    assert!(!l.history(Some("weekly-leadership"), 10).unwrap().is_empty(), "a week always has a Monday 07:00 in eight days");
}

#[test]
fn a_run_that_panics_is_recorded_failed_and_retried_and_the_job_is_not_left_busy() {
    let server = SmtpServer::start(Options::default());
    let p = project(server.port, "");
    let clock = Arc::new(ManualClock::new(utc("2026-11-01T05:00:00Z")));
    // A bug after rendering, on the first attempt only (the second daemon has none).
    let buggy = Daemon { pauses: Pauses::panic_at("after-render"), ..daemon(&p, &clock, utc("2026-11-01T05:00:00Z")) };
    runtime().block_on(async {
        tick(&buggy, &clock, utc("2026-11-01T06:00:00Z")).await;
    });
    let (run, _) = row(&p, "2026-10-31").unwrap();
    assert_eq!(run.state, State::Failed);
    assert_eq!(
        run.error.as_deref(),
        Some("pareto failed unexpectedly (test panic at after-render); this is a bug, please report it with the log")
    );
    assert_eq!(run.next_try_at, Some(utc("2026-11-01T06:30:00Z")));
    assert!(server.received().is_empty());

    let fixed = daemon(&p, &clock, utc("2026-11-01T05:00:00Z"));
    runtime().block_on(async {
        tick(&fixed, &clock, utc("2026-11-01T06:30:00Z")).await;
        // The next day's period runs as usual: the job is not marked busy.
        tick(&fixed, &clock, utc("2026-11-02T06:00:00Z")).await;
    });
    assert_eq!(row(&p, "2026-10-31").unwrap().0.state, State::Sent);
    assert_eq!(row(&p, "2026-11-01").unwrap().0.state, State::Sent);
    assert_eq!(mailbox(&server), BTreeMap::from([("a@example.com".into(), 2), ("b@example.com".into(), 2)]));
}

#[test]
fn sigterm_starts_none_of_the_periods_still_queued() {
    // Three periods to catch up; the first is mid-send (the server takes 2 s to answer) when the
    // daemon is told to stop: it finishes that one and starts neither of the others.
    let server = SmtpServer::start(Options { stalls: vec!["data=2*1"], ..Default::default() });
    let p = project(server.port, "");
    p.file("jobs/tick.toml", &crate::support::daemon::JOB.replace("name = \"tick\"", "name = \"tick\"\ncatch_up = 3"));
    let from = (last_due() - Duration::days(2) - Duration::minutes(1)).format("%Y-%m-%dT%H:%M").to_string();
    let periods: Vec<String> = (0..3).rev().map(|d| period_of(last_due() - Duration::days(d))).collect();
    let mut daemon = Serve::start(&p, &["--from", &from], &[]);
    eventually(60, "the daemon starts sending the oldest period", || row(&p, &periods[0]).filter(|(r, _)| r.state == State::Sending));
    assert_eq!(daemon.term(), 0);
    assert_eq!(row(&p, &periods[0]).unwrap().0.state, State::Sent);
    for later in &periods[1..] {
        let (run, _) = row(&p, later).unwrap();
        assert_eq!((run.state, run.attempts), (State::Claimed, 0), "{later} was not started");
    }
    assert!(daemon.stderr().contains("stopping: not starting this period; the next start runs it"), "{}", daemon.stderr());
    assert_eq!(mailbox(&server), BTreeMap::from([("a@example.com".into(), 1), ("b@example.com".into(), 1)]));
}

/// CPU seconds (user + system) process `pid` has used.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap().count()
}

#[test]
fn the_status_endpoint_caps_its_connections_and_does_not_spin_when_out_of_file_descriptors() {
    let server = SmtpServer::start(Options::default());
    let port = crate::support::free_port();
    let p = project(server.port, "");
    status_on(&p, port);
    let mut serve = Serve::start(&p, &["--from", &from_arg()], &[]);
    serve.wait_for("pareto serve started", 60);
    let period = period_of(last_due());
    eventually(60, "the due period is sent", || row(&p, &period).filter(|(r, _)| r.state == State::Sent));
    assert!(get(port, "/healthz").starts_with("HTTP/1.1 200 OK\r\n"));
    let pid = serve.pid();
    let before = open_fds(pid);

    // 100 clients that connect and say nothing: the daemon holds at most 32 of them at once.
    let idle: Vec<_> = (0..100).map(|_| std::net::TcpStream::connect(("127.0.0.1", port)).unwrap()).collect();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let held = open_fds(pid) - before;
    assert!(held <= 32, "the daemon holds {held} connections");
    drop(idle);

    // Out of file descriptors: accept fails; the daemon waits instead of trying again at once.
    // (A limit of 0: no new descriptor at all, whatever numbers are free.)
    let mut old = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    let limit = libc::rlimit { rlim_cur: 0, rlim_max: libc::RLIM_INFINITY };
    assert_eq!(unsafe { libc::prlimit(pid as i32, libc::RLIMIT_NOFILE, std::ptr::null(), &mut old) }, 0);
    let limit = libc::rlimit { rlim_max: old.rlim_max, ..limit };
    assert_eq!(unsafe { libc::prlimit(pid as i32, libc::RLIMIT_NOFILE, &limit, std::ptr::null_mut()) }, 0);
    let flood: Vec<_> = (0..8).filter_map(|_| std::net::TcpStream::connect(("127.0.0.1", port)).ok()).collect();
    serve.wait_for("status endpoint: cannot accept a connection", 10);
    let cpu = cpu_secs(pid);
    std::thread::sleep(std::time::Duration::from_secs(2));
    let used = cpu_secs(pid) - cpu;
    assert!(used < 0.5, "the daemon used {used:.2}s of CPU in 2s while out of file descriptors");
    drop(flood);
    assert_eq!(unsafe { libc::prlimit(pid as i32, libc::RLIMIT_NOFILE, &old, std::ptr::null_mut()) }, 0);
    // And it answers again once descriptors are free.
    let health = eventually(10, "/healthz answers again", || {
        let h = get(port, "/healthz");
        h.starts_with("HTTP/1.1 200 OK\r\n").then_some(h)
    });
    assert!(health.contains("\"status\": \"ok\""), "{health}");
    assert_eq!(serve.term(), 0);
}

#[test]
fn an_owners_notice_stuck_on_the_mail_server_holds_neither_the_schedule_nor_the_stop() {
    // The owner's mailbox answers RCPT after a minute: the notice of skipped periods times out
    // (5 s) and is retried four times, about 25 s in all.
    let server = SmtpServer::start(Options { stalls: vec!["rcpt:o@example.com=60"], ..Default::default() });
    let p = project(server.port, "");
    p.file("jobs/tick.toml", &crate::support::daemon::JOB.replace("name = \"tick\"", "name = \"tick\"\ncatch_up = \"latest\""));
    // A first start two days back: two periods missed (skipped, a notice), the latest due.
    let from = (last_due() - Duration::days(2) - Duration::minutes(1)).format("%Y-%m-%dT%H:%M").to_string();
    let mut serve = Serve::start(&p, &["--from", &from], &[]);
    serve.wait_for("pareto serve started", 60);
    let period = period_of(last_due());
    eventually(20, "the due period is sent while the notice still waits", || row(&p, &period).filter(|(r, _)| r.state == State::Sent));
    assert_eq!(mailbox(&server), BTreeMap::from([("a@example.com".into(), 1), ("b@example.com".into(), 1)]));
    // The notice is still being tried: the skipped periods are not yet recorded as told.
    let skipped = ledger(&p).get("tick", &period_of(last_due() - Duration::days(1))).unwrap().unwrap();
    assert_eq!(skipped.state, State::Skipped);
    let events: Vec<String> = ledger(&p).events(skipped.id).unwrap().into_iter().map(|e| e.state).collect();
    assert_eq!(events, ["skipped"]);

    // SIGTERM stops the daemon at once; the notice is left for the next start.
    assert_eq!(serve.term(), 0);
    let err = serve.stderr();
    assert!(err.contains("stopping: not waiting for owners' notices still being sent"), "{err}");
    let events: Vec<String> = ledger(&p).events(skipped.id).unwrap().into_iter().map(|e| e.state).collect();
    assert_eq!(events, ["skipped"], "the next start tells the owners");
    assert!(notices(&server).is_empty());
}

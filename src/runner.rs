//! One period of one job, through the ledger: claim it, render it (or resume the outbox of an
//! attempt that died), deliver each recipient, record every step, and tell the owners once when
//! it did not go well. `pareto run` and `pareto serve` both come through here, so a period is
//! sent once whoever runs it.

use crate::archive::{self, DeliveryRecord};
use crate::clock::Clock;
use crate::deliver::smtp::{self, Attempt, Observer};
use crate::exit;
use crate::ledger::{self, Delivery, Ledger, LedgerError, Lock, Outboxed, Recipient, Run, State};
use crate::notify;
use crate::period::Period;
use crate::pipeline::{self, RunError, RunOptions};
use crate::project::Project;
use crate::spec::job::Job;
use chrono::{DateTime, Utc};
use lettre::Address;
use serde_json::Value;
use std::path::PathBuf;

/// Who asks for the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// The daemon: a sent, unknown or skipped period is left alone, and attempts are limited.
    Serve,
    /// `pareto run`: a sent period is sent again only with `force`.
    Run { force: bool },
}

/// How a request to run a period ended.
#[derive(Debug)]
pub enum Outcome {
    /// The run went through its stages; `run.state` says how it ended.
    Done(Box<Done>),
    /// Nothing to do: the period was already sent (or its delivery is unknown, or it was
    /// skipped and the daemon asked).
    Already(Run),
    /// Another process is running this job now; who, as it wrote in the lock file.
    Busy(String),
}

/// A finished attempt.
#[derive(Debug)]
pub struct Done {
    /// The ledger row as the attempt left it.
    pub run: Run,
    pub recipients: Vec<Recipient>,
    pub dir: PathBuf,
    /// Why rendering failed or was held (delivery failures are in `recipients`).
    pub error: Option<RunError>,
    /// The file that records the attempt.
    pub record: Option<PathBuf>,
    /// What became of the notice to the owners, when one was due.
    pub notice: Option<String>,
    /// The attempt picked up an outbox left by an earlier one instead of rendering.
    pub resumed: bool,
}

impl Done {
    /// The exit code of `pareto run` for this attempt.
    pub fn exit_code(&self) -> u8 {
        match self.run.state {
            State::Sent | State::Skipped => exit::OK,
            State::Held => exit::HELD,
            State::DeliveryUnknown => exit::DELIVERY_FAILED,
            _ => match &self.error {
                Some(e) => e.exit_code(),
                None => exit::DELIVERY_FAILED,
            },
        }
    }
}

/// Test hooks: a process started with `PARETO_TEST_PAUSE=<step>` stops at that step (writing
/// `pareto: paused at <step>` to stderr) and waits forever, so a test can `kill -9` it there.
/// Steps: `after-claim`, `after-render`, `after-accept` (the server took the first recipient's
/// message, not yet recorded), `mid-send` (the first recipient recorded, the rest not sent).
/// `PARETO_TEST_PANIC=<step>` (or [`Pauses::panic_at`]) panics there instead, as a bug would.
#[derive(Debug, Clone, Default)]
pub struct Pauses(Option<String>, Option<String>);

impl Pauses {
    pub fn from_env() -> Pauses {
        let var = |k: &str| std::env::var(k).ok().filter(|s| !s.is_empty());
        Pauses(var("PARETO_TEST_PAUSE"), var("PARETO_TEST_PANIC"))
    }

    /// Panic at `step` (a test's stand-in for a bug).
    pub fn panic_at(step: &str) -> Pauses {
        Pauses(None, Some(step.to_string()))
    }

    fn at(&self, step: &str) {
        if self.1.as_deref() == Some(step) {
            panic!("test panic at {step}");
        }
        if self.0.as_deref() == Some(step) {
            eprintln!("pareto: paused at {step}");
            loop {
                std::thread::sleep(std::time::Duration::from_secs(3600));
            }
        }
    }
}

/// What a run needs from its surroundings.
pub struct Ctx<'a> {
    pub project: &'a Project,
    pub ledger: &'a Ledger,
    pub clock: &'a dyn Clock,
    pub pauses: &'a Pauses,
}

/// When a failed attempt at `row` is tried again: after `serve.retry_minutes`, while attempts are
/// left and nothing went out (a forced resend of a period sent before is not retried behind the
/// operator's back). `None`: not again.
pub fn retry_at(config: &crate::spec::config::Config, row: &Run, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    (row.attempts < config.serve.max_attempts && row.sends == 0).then(|| now + config.serve.retry_after)
}

/// Run `job`'s `period`, which fell due at `due_at` (the run is as of then).
pub async fn run(ctx: &Ctx<'_>, job: &Job, period: Period, due_at: DateTime<Utc>, trigger: Trigger) -> Result<Outcome, LedgerError> {
    let config = &ctx.project.config;
    let by = match trigger {
        Trigger::Serve => format!("serve pid {}", std::process::id()),
        Trigger::Run { .. } => format!("run pid {}", std::process::id()),
    };
    let lock_path = ledger::job_lock_path(&config.state, &job.name);
    let lock = Lock::try_take(&lock_path, &by).map_err(|source| LedgerError::Folder { path: lock_path.clone(), source })?;
    let Some(_lock) = lock else {
        return Ok(Outcome::Busy(Lock::holder(&lock_path)));
    };
    let label = period.label();
    let now = ctx.clock.now();
    let mut row = ctx.ledger.get_or_claim(&job.name, &label, due_at, now)?;
    let force = trigger == Trigger::Run { force: true };
    match (row.state, trigger) {
        (State::Sent | State::DeliveryUnknown, _) if !force => return Ok(Outcome::Already(row)),
        (State::Skipped, Trigger::Serve) => return Ok(Outcome::Already(row)),
        (State::Sent | State::DeliveryUnknown | State::Skipped | State::Failed | State::Held, Trigger::Run { .. }) if force => {
            ctx.ledger.reset(row.id, now, "--force: render and send again")?
        }
        // `pareto run` on a skipped period sends it afresh.
        (State::Skipped, _) => ctx.ledger.reset(row.id, now, "run by hand")?,
        _ => {}
    }
    if trigger == Trigger::Serve && row.attempts >= config.serve.max_attempts {
        let why = format!(
            "gave up after {} attempts (`serve.max_attempts`); send it with `pareto run {} --as-of {}`",
            row.attempts,
            job.name,
            period.as_of_arg()
        );
        ctx.ledger.finish(row.id, State::Failed, Some(&why), None, now)?;
        row = ctx.ledger.run(row.id)?;
        return Ok(Outcome::Done(Box::new(Done {
            dir: archive::run_dir(&config.archive, &job.name, &label),
            recipients: ctx.ledger.recipients(row.id)?,
            run: row,
            error: None,
            record: None,
            notice: None,
            resumed: false,
        })));
    }
    row = ctx.ledger.begin_attempt(row.id, &by, now)?;
    tracing::info!(job = %job.name, period = %label, attempt = row.attempts, state = %row.state, "run started");
    ctx.pauses.at("after-claim");

    // An attempt that died after handing a message over cannot know if it arrived.
    let unknown = ctx.ledger.settle_handed(row.id, ctx.clock.now())?;
    for r in &unknown {
        tracing::warn!(job = %job.name, period = %label, recipient = %r, "delivery unknown: the last attempt stopped after handing the message over");
    }
    let opts = RunOptions { as_of: due_at, dry_run: false, to: Vec::new(), group: None };
    let dir = pipeline::run_dir(ctx.project, job, &period, &opts);
    let outbox = ctx.ledger.outbox(row.id)?;
    // A bursting job whose groups were all held back has an outbox without a message to send.
    let has_outbox = !outbox.is_empty() || !ctx.ledger.groups(row.id)?.is_empty();
    let (outbox, record, resumed, unaddressed) = if has_outbox {
        // The groups an earlier attempt could not address, for the notice it may not have sent.
        let unaddressed = ctx
            .ledger
            .groups(row.id)?
            .into_iter()
            .filter_map(|g| Some(format!("group {}: {}", g.label, g.hold?.strip_prefix("not sent: ")?)))
            .collect();
        (outbox, None, true, unaddressed)
    } else {
        match pipeline::render(ctx.project, job, &opts, period).await {
            Ok(r) => {
                if r.no_alerts {
                    let mut record = r.record;
                    record.outcome = "no-alerts".into();
                    record.finished_at = pipeline::iso(ctx.clock.now());
                    let written = record.write(&dir, "run.json").is_ok();
                    ctx.ledger.finish(row.id, State::Skipped, Some("no alert fired: nothing to send"), None, ctx.clock.now())?;
                    return done(ctx, row.id, dir.clone(), None, written.then(|| dir.join("run.json")), None, false);
                }
                let messages: Vec<Outboxed> = r
                    .messages
                    .iter()
                    .map(|m| Outboxed {
                        group: m.group.clone(),
                        label: m.label.clone(),
                        sender: m.sender.as_ref().map(|a| a.to_string()),
                        message: if m.hold.is_some() { Vec::new() } else { m.bytes.clone() },
                        recipients: if m.hold.is_some() { Vec::new() } else { m.recipients.iter().map(|a| a.to_string()).collect() },
                        subject: m.subject.clone(),
                        message_id: m.message_id.clone(),
                        hold: m.hold.clone(),
                    })
                    .collect();
                ctx.ledger.store_outbox(row.id, &messages, ctx.clock.now())?;
                let mut record = r.record;
                record.outcome = "rendered".into();
                let _ = record.write(&dir, archive::record_name(&dir, "rendered"));
                ctx.pauses.at("after-render");
                let outbox = messages.into_iter().filter(|m| m.hold.is_none()).map(|m| (m.group, m.sender, m.message)).collect();
                (outbox, Some(record), false, r.unaddressed)
            }
            Err(failure) => return failed_render(ctx, job, &period, row.id, dir, failure).await,
        }
    };

    // Deliver each message to its recipients still pending, each in its own envelope; a
    // bursting job's groups one after another, a failure in one holding up none of the others.
    let all = ctx.ledger.recipients(row.id)?;
    let mut observer = Recorder { ctx, id: row.id, group: String::new(), recorded: 0, failure: None };
    let mut groups_sent = 0;
    for (group, sender, bytes) in &outbox {
        let pending: Vec<Address> =
            all.iter().filter(|r| r.group == *group && r.state == Delivery::Pending).filter_map(|r| r.address.parse().ok()).collect();
        if pending.is_empty() {
            continue;
        }
        ctx.ledger.sending(row.id, ctx.clock.now())?;
        let sender = sender.as_ref().and_then(|s| s.parse::<Address>().ok());
        observer.group = group.clone();
        smtp::send_each(&config.smtp, sender.as_ref(), &pending, bytes, &mut observer).await;
        if let Some(e) = observer.failure.take() {
            return Err(e);
        }
        if !group.is_empty() {
            groups_sent += 1;
            ctx.pauses.at(&format!("after-group-{groups_sent}"));
        }
    }

    // Groups without a usable address: the owners hear of it once per period.
    if !unaddressed.is_empty() && !ctx.ledger.notified(row.id, "unaddressed")? {
        let text = format!(
            "The {} report for {} ({}) could not go to every group: the data that lists them has no usable address for\n\n{}\n\nEvery other group was sent its report. Fix the addresses in the lake; `pareto run {} --as-of {} --group KEY --to ADDRESS` sends one group's report by hand.\n",
            job.name,
            period.title(),
            label,
            unaddressed.iter().map(|u| format!("  - {u}")).collect::<Vec<_>>().join("\n"),
            job.name,
            period.as_of_arg(),
        );
        let subject = format!("[pareto] {} {}: groups without an address", job.name, label);
        let line = notify::owners(config, job, &label, "unaddressed", &subject, &text).await;
        if notify::told(&line) {
            ctx.ledger.mark_notified(row.id, "unaddressed", ctx.clock.now(), &line)?;
        }
        tracing::info!(job = %job.name, period = %label, groups = unaddressed.len(), "groups without an address");
    }

    // How it ended, from what the ledger recorded for each recipient.
    let now = ctx.clock.now();
    let recipients = ctx.ledger.recipients(row.id)?;
    let list = |state: Delivery| -> Vec<String> {
        recipients
            .iter()
            .filter(|r| r.state == state)
            .map(|r| format!("{} ({})", r.address, r.reply.as_deref().unwrap_or("no answer")))
            .collect()
    };
    let (pending, unknown, rejected) = (list(Delivery::Pending), list(Delivery::Unknown), list(Delivery::Rejected));
    let sent = recipients.iter().filter(|r| r.state == Delivery::Sent).count();
    let of = format!("sent to {sent} of {}", recipients.len());
    // A forced resend of a period that went out before is not retried behind the operator's back.
    let retry_at = retry_at(config, &row, now);
    let (state, error, next) = if recipients.is_empty() && job.burst.is_some() {
        (State::Skipped, Some("no group's report was sent: every group was held back (see `pareto history`)".to_string()), None)
    } else if !pending.is_empty() {
        let mut e = format!("{of}; not delivered, to try again: {}", pending.join("; "));
        if !rejected.is_empty() {
            e.push_str(&format!("; rejected: {}", rejected.join("; ")));
        }
        (State::Failed, Some(e), retry_at)
    } else if !unknown.is_empty() {
        (
            State::DeliveryUnknown,
            Some(format!(
                "{of}; delivery unknown (not resent: check the mailbox, then `pareto run --force` if it is missing): {}",
                unknown.join("; ")
            )),
            None,
        )
    } else if !rejected.is_empty() {
        (State::Failed, Some(format!("{of}; rejected: {}", rejected.join("; "))), None)
    } else {
        (State::Sent, None, None)
    };
    ctx.ledger.finish(row.id, state, error.as_deref(), next, now)?;
    tracing::info!(job = %job.name, period = %label, state = %state, "run finished");

    let mut notice = None;
    if matches!(state, State::Failed | State::DeliveryUnknown) && !ctx.ledger.notified(row.id, state.as_str())? {
        let text = format!(
            "The {} report for {} ({}) {}:\n\n  {}\n\nSee `pareto history {}` for every attempt.{}\n",
            job.name,
            period.title(),
            label,
            if state == State::Failed { "was not delivered to everyone" } else { "may not have arrived" },
            error.as_deref().unwrap_or_default(),
            job.name,
            if next.is_some() { "\nThe daemon tries the recipients still pending again; nothing already delivered is resent." } else { "" },
        );
        let subject =
            format!("[pareto] {} {} {}", job.name, label, if state == State::Failed { "not delivered" } else { "delivery unknown" });
        let line = notify::owners(config, job, &label, state.as_str(), &subject, &text).await;
        if notify::told(&line) {
            ctx.ledger.mark_notified(row.id, state.as_str(), ctx.clock.now(), &line)?;
        }
        notice = Some(line);
    }

    let deliveries: Vec<DeliveryRecord> = recipients
        .iter()
        .map(|r| DeliveryRecord {
            group: r.group.clone(),
            recipient: r.address.clone(),
            state: r.state.as_str().into(),
            reply: r.reply.clone().unwrap_or_default(),
        })
        .collect();
    let record_path = write_outcome(&dir, record, state, error.as_deref(), deliveries, notice.clone(), now);
    done(ctx, row.id, dir, None, record_path, notice, resumed)
}

fn done(
    ctx: &Ctx<'_>,
    id: i64,
    dir: PathBuf,
    error: Option<RunError>,
    record: Option<PathBuf>,
    notice: Option<String>,
    resumed: bool,
) -> Result<Outcome, LedgerError> {
    Ok(Outcome::Done(Box::new(Done {
        run: ctx.ledger.run(id)?,
        recipients: ctx.ledger.recipients(id)?,
        dir,
        error,
        record,
        notice,
        resumed,
    })))
}

/// Rendering failed or was held: record it, tell the owners once, and leave a retry time.
async fn failed_render(
    ctx: &Ctx<'_>,
    job: &Job,
    period: &Period,
    id: i64,
    dir: PathBuf,
    failure: pipeline::Failure,
) -> Result<Outcome, LedgerError> {
    let config = &ctx.project.config;
    let now = ctx.clock.now();
    let row = ctx.ledger.run(id)?;
    // A forced resend of a period that went out before is not retried behind the operator's back.
    let retry_at = retry_at(config, &row, now);
    let held = matches!(failure.error, RunError::Held { .. });
    let state = if held { State::Held } else { State::Failed };
    ctx.ledger.finish(id, state, Some(&failure.error.to_string()), retry_at, now)?;
    let label = period.label();
    let mut notice = None;
    if !ctx.ledger.notified(id, state.as_str())? {
        let line = match &failure.error {
            RunError::Held { reasons, .. } => {
                let text = format!(
                    "The {} report for {} ({}) was not sent, because its data is not fresh enough:\n\n{}\n\nOnce the data has arrived, send it with:\n\n    pareto run {} --as-of {}\n",
                    job.name,
                    period.title(),
                    label,
                    reasons.iter().map(|r| format!("  - {r}")).collect::<Vec<_>>().join("\n"),
                    job.name,
                    period.as_of_arg(),
                );
                let subject = format!("[pareto] {} {} held: stale data", job.name, label);
                notify::owners(config, job, &label, "held", &subject, &text).await
            }
            e => {
                let text = format!(
                    "The {} report for {} ({}) failed, and nothing was sent:\n\n  {e}\n\nSee `pareto history {}`; once fixed, send it with:\n\n    pareto run {} --as-of {}\n",
                    job.name,
                    period.title(),
                    label,
                    job.name,
                    job.name,
                    period.as_of_arg(),
                );
                let subject = format!("[pareto] {} {} failed", job.name, label);
                notify::owners(config, job, &label, "failed", &subject, &text).await
            }
        };
        if notify::told(&line) {
            ctx.ledger.mark_notified(id, state.as_str(), ctx.clock.now(), &line)?;
        }
        if let Some(file) = &failure.record {
            update_record(file, |v| v["notice"] = Value::String(line.clone()));
        }
        notice = Some(line);
    }
    let mut error = failure.error;
    if let (RunError::Held { notice: n, .. }, Some(line)) = (&mut error, &notice) {
        *n = Some(line.clone());
    }
    done(ctx, id, dir, Some(error), failure.record, notice, false)
}

/// Record each recipient's progress in the ledger as it happens.
struct Recorder<'a, 'b> {
    ctx: &'a Ctx<'b>,
    id: i64,
    /// The group being sent (`""` for a job without `[burst]`).
    group: String,
    recorded: usize,
    failure: Option<LedgerError>,
}

impl Recorder<'_, '_> {
    fn keep(&mut self, r: Result<(), LedgerError>) {
        if let Err(e) = r {
            tracing::error!(error = %e, "cannot record delivery progress");
            self.failure.get_or_insert(e);
        }
    }
}

impl Observer for Recorder<'_, '_> {
    fn attempt(&mut self, recipient: &Address) {
        let r = self.ctx.ledger.attempt_recipient(self.id, &self.group, recipient.as_ref(), self.ctx.clock.now());
        self.keep(r);
    }

    fn handing(&mut self, recipient: &Address) -> bool {
        // Nothing goes to the server unless the ledger can say so: after any failed write, and
        // when this one fails, the message is not handed over (the run fails; a rerun resumes).
        if self.failure.is_none() {
            let r = self.ctx.ledger.handed(self.id, &self.group, recipient.as_ref(), self.ctx.clock.now());
            self.keep(r);
        }
        self.failure.is_none()
    }

    fn answered(&mut self, _recipient: &Address) {
        if self.recorded == 0 {
            self.ctx.pauses.at("after-accept");
        }
    }

    fn waiting(&mut self, recipient: &Address, why: &str, wait: std::time::Duration, retry: u32, of: u32) {
        crate::progress::say(&format!(
            "waiting for the mail server: {recipient}: {why}; trying again in {} (retry {retry} of {of})",
            crate::progress::human_wait(wait)
        ));
    }

    fn ended(&mut self, recipient: &Address, attempt: &Attempt) {
        let (state, text) = match attempt {
            Attempt::Sent(t) => (Delivery::Sent, t),
            Attempt::Rejected(t) => (Delivery::Rejected, t),
            Attempt::Unknown(t) => (Delivery::Unknown, t),
            Attempt::Retry(t) | Attempt::Fatal(t) => (Delivery::Pending, t),
        };
        let r = self.ctx.ledger.delivered(self.id, &self.group, recipient.as_ref(), state, text, self.ctx.clock.now());
        self.keep(r);
        if state != Delivery::Pending {
            tracing::info!(recipient = %recipient, delivery = state.as_str(), reply = %text, "delivery");
            self.recorded += 1;
            if self.recorded == 1 {
                self.ctx.pauses.at("mid-send");
            }
        }
    }
}

/// Write the attempt's outcome into `run.json`: the record rendering produced, or (for an attempt
/// that resumed an outbox) the one the earlier attempt wrote.
fn write_outcome(
    dir: &std::path::Path,
    record: Option<archive::RunRecord>,
    state: State,
    error: Option<&str>,
    deliveries: Vec<DeliveryRecord>,
    notice: Option<String>,
    now: DateTime<Utc>,
) -> Option<PathBuf> {
    // A forced resend that fails never replaces the record of the earlier send.
    let name = archive::record_name(dir, state.as_str());
    let path = dir.join(name);
    let smtp_reply = deliveries.iter().find(|d| d.state == "sent").map(|d| d.reply.clone());
    match record {
        Some(mut r) => {
            r.outcome = state.as_str().into();
            r.error = error.map(String::from);
            r.deliveries = deliveries;
            r.smtp_reply = smtp_reply;
            r.notice = notice;
            r.finished_at = pipeline::iso(now);
            r.write(dir, name).ok().map(|_| path)
        }
        None => {
            if !path.exists() {
                let v = serde_json::json!({});
                let _ = archive::write_atomic(&path, v.to_string().as_bytes());
            }
            update_record(&path, |v| {
                v["outcome"] = Value::from(state.as_str());
                v["error"] = error.map(Value::from).unwrap_or(Value::Null);
                v["deliveries"] = serde_json::to_value(&deliveries).unwrap_or_default();
                v["smtp_reply"] = smtp_reply.clone().map(Value::from).unwrap_or(Value::Null);
                v["notice"] = notice.clone().map(Value::from).unwrap_or(Value::Null);
                v["finished_at"] = Value::from(pipeline::iso(now));
            })
            .then_some(path)
        }
    }
}

/// Change a `run.json` in place; false when it cannot be read or written.
fn update_record(path: &std::path::Path, change: impl FnOnce(&mut Value)) -> bool {
    let Ok(bytes) = std::fs::read(path) else { return false };
    let Ok(mut v) = serde_json::from_slice::<Value>(&bytes) else { return false };
    change(&mut v);
    let json = serde_json::to_string_pretty(&v).unwrap_or_default();
    archive::write_atomic(path, crate::secrets::redact(&json).as_bytes()).is_ok()
}

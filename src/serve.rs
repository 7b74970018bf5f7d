//! The daemon: which periods are due, worked out from each job's cron and time zone against the
//! ledger (never from scheduler ticks, which only wake it), with catch-up after downtime, one
//! run at a time per job, retries of failed and held periods, and a graceful stop.

use crate::clock::Clock;
use crate::ledger::{Ledger, LedgerError, Run, State};
use crate::notify;
use crate::period::Period;
use crate::project::Project;
use crate::runner::{self, Ctx, Outcome, Pauses, Trigger};
use crate::schedule;
use crate::spec::job::{CatchUp, Job};
use chrono::{DateTime, Duration, Utc};
use futures::FutureExt;
use std::collections::BTreeSet;
use std::sync::Arc;

/// A period found due later than this counts as missed (the daemon was down or the machine
/// asleep), and the job's `catch_up` decides whether it is still sent.
pub const LATE: Duration = Duration::minutes(10);

/// The longest the daemon sleeps without looking at the schedule again, whatever woke it last.
pub const MAX_SLEEP: std::time::Duration = std::time::Duration::from_secs(60);

/// Why a period due while its job was still running was skipped.
pub const BUSY: &str = "the job's previous run was still going";

/// How many skipped periods one notice to the owners lists by name.
pub const MAX_LISTED: usize = 20;

/// Everything the daemon runs with. The clock is passed in so tests can drive time.
pub struct Daemon {
    pub project: Arc<Project>,
    pub ledger: Arc<Ledger>,
    pub clock: Arc<dyn Clock>,
    pub pauses: Pauses,
    /// On a first start (no watermark for a job), look at the schedule from here, not from now.
    pub from: Option<DateTime<Utc>>,
    /// Set on SIGTERM: a job's queued periods after the one running are not started.
    pub stopping: std::sync::atomic::AtomicBool,
}

/// A job with periods to run, oldest first.
#[derive(Debug, Clone)]
pub struct Work {
    pub job: String,
    pub runs: Vec<Run>,
}

impl Daemon {
    /// Record the periods that fell due up to `now` and return the work to start. A period is due
    /// at its job's first cron instant after its end. Missed periods beyond `catch_up` are
    /// recorded as skipped (the owners are told by [`Daemon::tell`]); a period due while the
    /// job's previous run is still going (`running`) is skipped too. The work is every job not
    /// running with a period claimed, left in flight by a process that died, or failed or held
    /// and due for a retry.
    pub async fn due(&self, now: DateTime<Utc>, running: &BTreeSet<String>) -> Result<Vec<Work>, LedgerError> {
        let mut work = Vec::new();
        for job in &self.project.jobs {
            let watermark = match self.ledger.watermark(&job.name)? {
                Some(w) => w,
                None => {
                    let start = self.from.unwrap_or(now).min(now);
                    self.ledger.init_watermark(&job.name, start)?;
                    start
                }
            };
            let busy = running.contains(&job.name);
            if now > watermark {
                self.schedule(job, watermark, now, busy)?;
            }
            if busy {
                continue;
            }
            let runs = self.ledger.pending(&job.name, now)?;
            if !runs.is_empty() {
                work.push(Work { job: job.name.clone(), runs });
            }
        }
        Ok(work)
    }

    /// Record `job`'s periods due in `(watermark, now]`.
    fn schedule(&self, job: &Job, watermark: DateTime<Utc>, now: DateTime<Utc>, busy: bool) -> Result<(), LedgerError> {
        let occurrences = schedule::occurrences(&job.cron, job.tz, watermark, now);
        if occurrences.is_empty() {
            // Nothing fell due: leave the watermark (a write per wake-up buys nothing).
            return Ok(());
        }
        let mut periods: Vec<(Period, DateTime<Utc>)> = Vec::new();
        for at in occurrences {
            let p = Period::last_complete(job.period, at, job.tz);
            if !periods.iter().any(|(q, _)| q.label() == p.label()) {
                periods.push((p, at));
            }
        }
        let mut fresh = Vec::new();
        for (p, at) in periods {
            if self.ledger.get(&job.name, &p.label())?.is_none() {
                fresh.push((p, at));
            }
        }
        let (late, on_time): (Vec<_>, Vec<_>) = fresh.into_iter().partition(|(_, at)| now - *at > LATE);
        let keep = job.catch_up.keep();
        let policy = match job.catch_up {
            CatchUp::None => "catch_up = \"none\"".to_string(),
            CatchUp::Latest => "catch_up = \"latest\"".to_string(),
            CatchUp::Last(n) => format!("catch_up = {n}"),
        };
        let mut rows = Vec::new();
        let n_late = late.len();
        for (i, (p, at)) in late.into_iter().enumerate() {
            if i + keep >= n_late && !busy {
                rows.push((p.label(), at, State::Claimed, None));
            } else {
                let why = format!(
                    "missed: due {} while the daemon was not running; {policy} sends only the latest {keep}",
                    at.with_timezone(&job.tz).format("%a %Y-%m-%d %H:%M %Z")
                );
                rows.push((p.label(), at, State::Skipped, Some(why)));
            }
        }
        for (p, at) in on_time {
            if busy {
                rows.push((p.label(), at, State::Skipped, Some(BUSY.to_string())));
            } else {
                rows.push((p.label(), at, State::Claimed, None));
            }
        }
        for id in self.ledger.schedule(&job.name, &rows, now, self.clock.now())? {
            let run = self.ledger.run(id)?;
            match run.state {
                State::Skipped => {
                    tracing::warn!(job = %job.name, period = %run.period, reason = run.error.as_deref().unwrap_or(""), "period skipped")
                }
                _ => tracing::info!(job = %job.name, period = %run.period, due = %run.due_at, "period due"),
            }
        }
        Ok(())
    }

    /// The jobs not `running` with skipped periods whose owners have not been told.
    pub fn untold(&self, running: &BTreeSet<String>) -> Result<Vec<String>, LedgerError> {
        let mut out = Vec::new();
        for job in self.project.jobs.iter().filter(|j| !running.contains(&j.name)) {
            if !self.ledger.untold_skipped(&job.name)?.is_empty() {
                out.push(job.name.clone());
            }
        }
        Ok(out)
    }

    /// Tell `job`'s owners, in one notice, of the periods skipped since they were last told:
    /// those just missed, and those skipped while the job was busy (told once it is free, not
    /// once a wake-up). The daemon loop runs this beside the schedule, never in its way: a mail
    /// server that is down can hold a notice for minutes of retries.
    pub async fn tell(&self, job: &str) -> Result<(), LedgerError> {
        let Some(job) = self.project.jobs.iter().find(|j| j.name == job) else { return Ok(()) };
        let untold = self.ledger.untold_skipped(&job.name)?;
        if untold.is_empty() {
            return Ok(());
        }
        self.tell_skipped(job, &untold).await
    }

    /// One notice to the owners for the periods just skipped, listing at most [`MAX_LISTED`].
    async fn tell_skipped(&self, job: &Job, skipped: &[Run]) -> Result<(), LedgerError> {
        // The latest ones are listed; a long outage of a frequent job would otherwise fill the email.
        let shown = &skipped[skipped.len().saturating_sub(MAX_LISTED)..];
        let mut lines: Vec<String> = shown
            .iter()
            .map(|r| {
                let p = Period::last_complete(job.period, r.due_at, job.tz);
                format!(
                    "  - {} ({}): {}\n      send it with: pareto run {} --as-of {}",
                    r.period,
                    p.title(),
                    r.error.as_deref().unwrap_or(""),
                    job.name,
                    p.as_of_arg()
                )
            })
            .collect();
        if skipped.len() > shown.len() {
            lines.push(format!("  … and {} earlier ones; `pareto history {}` lists them all", skipped.len() - shown.len(), job.name));
        }
        let text = format!("These {} reports were not sent:\n\n{}\n", job.name, lines.join("\n"));
        let label = if skipped.len() == 1 {
            skipped[0].period.clone()
        } else {
            format!("{}..{}", skipped[0].period, skipped[skipped.len() - 1].period)
        };
        let subject = format!("[pareto] {} {} skipped", job.name, label);
        let line = notify::owners(&self.project.config, job, &label, "skipped", &subject, &text).await;
        if !notify::told(&line) {
            tracing::warn!(job = %job.name, notice = %line, "the owners were not told of skipped periods");
        }
        // Tried once either way: a mail server that is down is not asked again on every wake-up.
        for r in skipped {
            self.ledger.mark_notified(r.id, "skipped", self.clock.now(), &line)?;
        }
        Ok(())
    }

    /// Run a job's periods one after another.
    pub async fn work(&self, work: Work) {
        let Some(job) = self.project.jobs.iter().find(|j| j.name == work.job) else { return };
        let ctx = Ctx { project: &self.project, ledger: &self.ledger, clock: self.clock.as_ref(), pauses: &self.pauses };
        for run in work.runs {
            if self.stopping.load(std::sync::atomic::Ordering::SeqCst) {
                tracing::info!(job = %job.name, period = %run.period, "stopping: not starting this period; the next start runs it");
                return;
            }
            let period = Period::last_complete(job.period, run.due_at, job.tz);
            if period.label() != run.period {
                tracing::error!(job = %job.name, period = %run.period, "the ledger's period does not match its due time; run it with `pareto run`");
                continue;
            }
            // A panic (a bug) in one run must not leave the job marked running for good: it is
            // recorded as a failed attempt, retried like any other, and the daemon goes on.
            let attempt = std::panic::AssertUnwindSafe(runner::run(&ctx, job, period, run.due_at, Trigger::Serve)).catch_unwind().await;
            let result = match attempt {
                Ok(result) => result,
                Err(panic) => {
                    let what = panic
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "a panic".into());
                    self.record_panic(job, &run.period, &what);
                    continue;
                }
            };
            match result {
                Ok(Outcome::Done(d)) => {
                    if let Some(n) = d.notice.as_deref().filter(|n| !notify::told(n)) {
                        tracing::warn!(job = %job.name, period = %run.period, notice = %n, "the owners were not told");
                    }
                    if let Some(e) = &d.error {
                        tracing::warn!(job = %job.name, period = %run.period, state = %d.run.state, error = %e, "run did not send");
                    } else if d.run.state != State::Sent && d.run.state != State::Skipped {
                        tracing::warn!(job = %job.name, period = %run.period, state = %d.run.state, error = d.run.error.as_deref().unwrap_or(""), "run did not send");
                    }
                }
                Ok(Outcome::Already(_)) => {}
                Ok(Outcome::Busy(holder)) => {
                    tracing::info!(job = %job.name, period = %run.period, holder = %holder, "the job is running in another process; trying later");
                    return;
                }
                Err(e) => {
                    tracing::error!(job = %job.name, period = %run.period, error = %e, "ledger error");
                    return;
                }
            }
        }
    }

    /// Record a run that panicked as failed (to be retried after `serve.retry_minutes`, as long
    /// as attempts are left and nothing was sent: a retry resumes from its outbox).
    fn record_panic(&self, job: &Job, period: &str, what: &str) {
        let why = format!("pareto failed unexpectedly ({what}); this is a bug, please report it with the log");
        tracing::error!(job = %job.name, period = %period, error = %why, "run panicked");
        let config = &self.project.config;
        let now = self.clock.now();
        match self.ledger.get(&job.name, period) {
            Ok(Some(row)) if row.state.in_flight() => {
                let retry_at = runner::retry_at(config, &row, now);
                if let Err(e) = self.ledger.finish(row.id, State::Failed, Some(&why), retry_at, now) {
                    tracing::error!(job = %job.name, period = %period, error = %e, "cannot record the failed run");
                }
            }
            Ok(_) => {}
            Err(e) => tracing::error!(job = %job.name, period = %period, error = %e, "cannot record the failed run"),
        }
    }

    /// When to look again: the next cron instant or retry of any job (at most [`MAX_SLEEP`]).
    pub fn next_wake(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let mut next = now + Duration::from_std(MAX_SLEEP).expect("small");
        for job in &self.project.jobs {
            if let Some(at) = schedule::next(&job.cron, job.tz, now, 1).first() {
                next = next.min(*at);
            }
            if let Ok(Some(at)) = self.ledger.next_retry(&job.name) {
                next = next.min(at.max(now));
            }
        }
        next
    }
}

/// Wake-ups from tokio-cron-scheduler, one cron job per pareto job. They only make the daemon
/// look at the schedule sooner; a lost, doubled or misplaced tick changes nothing.
pub async fn ticks(project: &Project) -> Option<(tokio_cron_scheduler::JobScheduler, tokio::sync::mpsc::Receiver<()>)> {
    use tokio_cron_scheduler::{Job as CronJob, JobScheduler};
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    let sched = match JobScheduler::new().await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "no cron wake-ups; the daemon looks at the schedule every minute instead");
            return None;
        }
    };
    for job in &project.jobs {
        // tokio-cron-scheduler wants a seconds field.
        let expr = if job.schedule.split_whitespace().count() == 5 { format!("0 {}", job.schedule) } else { job.schedule.clone() };
        let tx = tx.clone();
        match CronJob::new_async_tz(expr.as_str(), job.tz, move |_, _| {
            let tx = tx.clone();
            Box::pin(async move {
                let _ = tx.try_send(());
            })
        }) {
            Ok(j) => {
                if let Err(e) = sched.add(j).await {
                    tracing::warn!(job = %job.name, error = %e, "no cron wake-up for this job");
                }
            }
            Err(e) => tracing::warn!(job = %job.name, error = %e, "no cron wake-up for this job"),
        }
    }
    if let Err(e) = sched.start().await {
        tracing::warn!(error = %e, "no cron wake-ups; the daemon looks at the schedule every minute instead");
        return None;
    }
    Some((sched, rx))
}

/// What the status endpoint shows about the loop.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Status {
    pub started_at: Option<DateTime<Utc>>,
    pub last_check: Option<DateTime<Utc>>,
    pub next_check: Option<DateTime<Utc>>,
    pub running: Vec<String>,
    pub stopping: bool,
}

/// The daemon loop: look at the schedule, start due work (one task per job), sleep until the next
/// cron instant, retry, tick or finished run, and on `stop` start nothing new and give running
/// work `grace` to finish. `once`: run what is due now, wait for it, and return.
pub async fn run_loop(
    daemon: Arc<Daemon>,
    status: Arc<std::sync::Mutex<Status>>,
    stop: impl std::future::Future<Output = ()>,
    grace: std::time::Duration,
    once: bool,
) -> Result<(), LedgerError> {
    let mut tasks: tokio::task::JoinSet<String> = tokio::task::JoinSet::new();
    let mut running: BTreeSet<String> = BTreeSet::new();
    // Each task's job, to free the job even when its task panicked.
    let mut jobs_of = Jobs::new();
    type Jobs = std::collections::HashMap<tokio::task::Id, String>;
    fn finish(done: Result<(tokio::task::Id, String), tokio::task::JoinError>, jobs_of: &mut Jobs, running: &mut BTreeSet<String>) {
        let id = match &done {
            Ok((id, _)) => *id,
            Err(e) => {
                tracing::error!(error = %e, "a job's task ended abnormally; the job is free again");
                e.id()
            }
        };
        if let Some(job) = jobs_of.remove(&id) {
            running.remove(&job);
        }
    }
    // Owners' notices of skipped periods, one task per job, beside the schedule.
    let mut notices: tokio::task::JoinSet<()> = tokio::task::JoinSet::new();
    let mut telling = Jobs::new();
    let mut wakeups = if once { None } else { ticks(&daemon.project).await };
    tokio::pin!(stop);
    status.lock().unwrap_or_else(|e| e.into_inner()).started_at = Some(daemon.clock.now());
    loop {
        let now = daemon.clock.now();
        let due = match daemon.due(now, &running).await {
            Ok(d) => d,
            Err(e) if !once => {
                // A locked or unwritable ledger now is no reason to stop for good: look again.
                tracing::error!(error = %e, "cannot read the schedule from the ledger; trying again shortly");
                Vec::new()
            }
            Err(e) => return Err(e),
        };
        match daemon.untold(&running) {
            Ok(jobs) => {
                let busy: BTreeSet<String> = telling.values().cloned().collect();
                for job in jobs.into_iter().filter(|j| !busy.contains(j)) {
                    let d = daemon.clone();
                    let name = job.clone();
                    let task = notices.spawn(async move {
                        if let Err(e) = d.tell(&name).await {
                            tracing::error!(job = %name, error = %e, "cannot record that the owners were told of skipped periods");
                        }
                    });
                    telling.insert(task.id(), job);
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot read the skipped periods from the ledger; trying again shortly"),
        }
        for w in due {
            running.insert(w.job.clone());
            let d = daemon.clone();
            let job = w.job.clone();
            let task = tasks.spawn(async move {
                let job = w.job.clone();
                d.work(w).await;
                job
            });
            jobs_of.insert(task.id(), job);
        }
        let next = daemon.next_wake(daemon.clock.now());
        {
            let mut s = status.lock().unwrap_or_else(|e| e.into_inner());
            s.last_check = Some(now);
            s.next_check = Some(next);
            s.running = running.iter().cloned().collect();
        }
        if once {
            while let Some(done) = tasks.join_next_with_id().await {
                finish(done, &mut jobs_of, &mut running);
            }
            while notices.join_next().await.is_some() {}
            return Ok(());
        }
        let sleep = (next - daemon.clock.now()).to_std().unwrap_or_default().min(MAX_SLEEP) + std::time::Duration::from_millis(5);
        tokio::select! {
            _ = tokio::time::sleep(sleep) => {}
            Some(_) = async { match wakeups.as_mut() { Some((_, rx)) => rx.recv().await, None => std::future::pending().await } } => {
                tracing::debug!("cron tick");
            }
            Some(done) = tasks.join_next_with_id(), if !tasks.is_empty() => {
                finish(done, &mut jobs_of, &mut running);
            }
            Some(done) = notices.join_next_with_id(), if !notices.is_empty() => {
                let id = match &done { Ok((id, ())) => *id, Err(e) => e.id() };
                telling.remove(&id);
            }
            _ = &mut stop => break,
        }
    }
    daemon.stopping.store(true, std::sync::atomic::Ordering::SeqCst);
    status.lock().unwrap_or_else(|e| e.into_inner()).stopping = true;
    if !tasks.is_empty() {
        tracing::info!(running = ?running, grace_secs = grace.as_secs(), "stopping: waiting for running jobs to finish");
    }
    let finished = tokio::time::timeout(grace, async {
        while let Some(done) = tasks.join_next_with_id().await {
            finish(done, &mut jobs_of, &mut running);
        }
    })
    .await;
    if finished.is_err() {
        tracing::warn!(running = ?running, "the grace period is over: stopping runs still going; the next start resumes them from the ledger");
        tasks.abort_all();
    }
    if !notices.is_empty() {
        // A notice still retrying a mail server that is down does not hold the stop; the next
        // start tells the owners (the ledger has not recorded them told).
        tracing::info!(jobs = ?telling.values().collect::<Vec<_>>(), "stopping: not waiting for owners' notices still being sent");
        notices.abort_all();
    }
    if let Some((mut sched, _)) = wakeups {
        let _ = sched.shutdown().await;
    }
    tracing::info!("stopped");
    Ok(())
}

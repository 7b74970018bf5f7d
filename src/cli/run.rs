//! `pareto run JOB`: one run for CI or cron, through the same ledger as the daemon.

use clap::Args;
use lettre::message::Mailbox;
use pareto::clock::SystemClock;
use pareto::exit;
use pareto::ledger::{Ledger, State};
use pareto::period;
use pareto::period::Period;
use pareto::pipeline::{self, RunError, RunOptions};
use pareto::runner::{self, Ctx, Outcome, Pauses, Trigger};
use std::path::Path;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Job name or file (jobs/NAME.toml).
    pub job: String,
    /// Run as if it were this date or time (job's time zone), e.g. 2026-11-23 or 2026-11-23T07:00.
    #[arg(long)]
    pub as_of: Option<String>,
    /// Build and archive the report, but do not send it.
    #[arg(long)]
    pub dry_run: bool,
    /// Send only to this address instead of the job's recipients (repeatable).
    #[arg(long, value_name = "ADDR")]
    pub to: Vec<String>,
    /// Render and send the period again even if it was sent already.
    #[arg(long)]
    pub force: bool,
    /// A bursting job: only this group (its key), with --dry-run or --to.
    #[arg(long, value_name = "KEY")]
    pub group: Option<String>,
}

pub async fn run(root: &Path, a: RunArgs) -> anyhow::Result<u8> {
    pareto::progress::enable();
    let project = match super::load(root) {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    let job = match super::job(&project, &a.job) {
        Ok(j) => j,
        Err(code) => return Ok(code),
    };
    let as_of = match &a.as_of {
        Some(t) => match period::parse_as_of(t, job.tz) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: --as-of: {e}");
                return Ok(exit::USAGE);
            }
        },
        None => chrono::Utc::now(),
    };
    let mut to = Vec::new();
    for t in &a.to {
        match t.parse::<Mailbox>() {
            Ok(m) => to.push(m),
            Err(e) => {
                eprintln!("error: --to: `{t}` is not an email address ({e})");
                return Ok(exit::USAGE);
            }
        }
    }
    if a.group.is_some() && !a.dry_run && to.is_empty() {
        eprintln!(
            "error: --group previews one group's report: add --dry-run, or --to ADDR to send it to yourself; the period's run sends every group (through the ledger, once)"
        );
        return Ok(exit::USAGE);
    }
    let opts = RunOptions { as_of, dry_run: a.dry_run, to, group: a.group.clone() };
    if opts.dry_run || !opts.to.is_empty() {
        return preview(&project, job, &opts).await;
    }
    let ledger = match Ledger::open(&project.config.state) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(exit::JOB_FAILED);
        }
    };
    let pauses = Pauses::from_env();
    let ctx = Ctx { project: &project, ledger: &ledger, clock: &SystemClock, pauses: &pauses };
    let period = Period::last_complete(job.period, as_of, job.tz);
    let label = period.label();
    let outcome = match runner::run(&ctx, job, period, as_of, Trigger::Run { force: a.force }).await {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: job `{}`: {e}", job.name);
            return Ok(exit::JOB_FAILED);
        }
    };
    let shown = |p: &Path| pareto::problem::shown(&project.root, p).display().to_string();
    match outcome {
        Outcome::Busy(holder) => {
            eprintln!(
                "error: job `{}` is running in another process ({}); nothing was done. Wait for it, or see `pareto history {}`",
                job.name,
                if holder.is_empty() { "unknown" } else { &holder },
                job.name
            );
            Ok(exit::BUSY)
        }
        Outcome::Already(run) => {
            let when = run.finished_at.map(|t| t.with_timezone(&job.tz).format(" on %a %Y-%m-%d %H:%M %Z").to_string()).unwrap_or_default();
            let by = run.by.as_deref().map(|b| format!(" by {b}")).unwrap_or_default();
            if run.state == State::DeliveryUnknown {
                eprintln!("error: {} {} was handed to the mail server{when}{by}, but whether it arrived is unknown:", job.name, label);
                eprintln!("  {}", run.error.as_deref().unwrap_or(""));
                eprintln!("check the recipients' mailboxes; send it again with --force");
                Ok(exit::DELIVERY_FAILED)
            } else {
                println!("{} {} was already sent{when}{by}: nothing to do (--force sends it again)", job.name, label);
                Ok(exit::OK)
            }
        }
        Outcome::Done(d) => {
            let dir = shown(&d.dir);
            match d.run.state {
                State::Sent if job.burst.is_some() => {
                    let groups = ledger.groups(d.run.id)?;
                    let again = if d.resumed { " (resumed from the outbox)" } else { "" };
                    let sent = groups.iter().filter(|g| g.hold.is_none()).count();
                    println!("sent {} {}: {sent} of {} groups, {} recipient(s){again}", job.name, label, groups.len(), d.recipients.len());
                    for g in groups.iter().filter(|g| g.hold.is_some()) {
                        println!("  {}: {}", g.label, g.hold.as_deref().unwrap_or(""));
                    }
                    println!("reports: {dir}/<group>/report.html");
                }
                State::Sent => {
                    let to: Vec<&str> = d.recipients.iter().map(|r| r.address.as_str()).collect();
                    let again = if d.resumed { " (resumed from the outbox)" } else { "" };
                    println!("sent {} {} to {}: {}{again}", job.name, label, to.join(", "), d.run.subject.as_deref().unwrap_or(""));
                    println!("report: {dir}/report.html");
                }
                State::Skipped if job.burst.is_some() => {
                    println!("no group of {} {} was sent: {}", job.name, label, d.run.error.as_deref().unwrap_or(""));
                    for g in ledger.groups(d.run.id)? {
                        println!("  {}: {}", g.label, g.hold.as_deref().unwrap_or(""));
                    }
                }
                State::Skipped => {
                    println!("no alert fired for {} {}: nothing sent", job.name, label);
                    println!("report: {dir}/report.html");
                }
                State::Held => {
                    if let Some(RunError::Held { reasons, .. }) = &d.error {
                        eprintln!("held: job `{}` was not sent because its data is stale:", job.name);
                        for r in reasons {
                            eprintln!("  {r}");
                        }
                    }
                    match &d.notice {
                        Some(n) => eprintln!("{n}"),
                        None => eprintln!("the owners were already told about {label}"),
                    }
                    if let Some(file) = &d.record {
                        eprintln!("the run is recorded in {}", shown(file));
                    }
                }
                _ => {
                    match &d.error {
                        Some(e) => {
                            eprintln!("error: job `{}` failed: {e}", job.name);
                            match &d.record {
                                Some(file) => eprintln!("nothing was sent; the run is recorded in {}", shown(file)),
                                None => eprintln!("nothing was sent"),
                            }
                        }
                        None => {
                            eprintln!("error: job `{}` {}: {}", job.name, label, d.run.error.as_deref().unwrap_or(""));
                            for r in &d.recipients {
                                eprintln!("  {} {}: {}", r.state.as_str(), r.address, r.reply.as_deref().unwrap_or(""));
                            }
                            eprintln!("the report is in {dir}; `pareto run {}` again sends only to the recipients still pending", job.name);
                        }
                    }
                    if let Some(n) = &d.notice {
                        eprintln!("{n}");
                    }
                }
            }
            Ok(d.exit_code())
        }
    }
}

/// `--dry-run` or `--to`: render, and send only to `--to`; the ledger is not touched.
async fn preview(project: &pareto::project::Project, job: &pareto::spec::job::Job, opts: &RunOptions) -> anyhow::Result<u8> {
    match pipeline::preview(project, job, opts).await {
        Ok(r) => {
            let dir = pareto::problem::shown(&project.root, &r.dir);
            if !r.groups.is_empty() {
                let verb = if r.sent { "sent previews of" } else { "dry run" };
                let to = if r.sent { format!(" to {}", r.recipients.join(", ")) } else { String::new() };
                println!("{verb} {} {}: {} group(s){to}", job.name, r.period.label(), r.groups.len());
                for h in &r.held {
                    println!("  {h}");
                }
                for u in &r.unaddressed {
                    println!("  no address: {u}");
                }
                let first = dir.join(&r.groups[0]).join("report.html");
                if r.groups.len() == 1 {
                    println!("report: {}", first.display());
                } else {
                    println!("reports: {} (one folder per group, e.g. {})", dir.display(), first.display());
                }
                return Ok(exit::OK);
            }
            if r.outcome == "no-alerts" {
                println!("no alert fired for {} {}: nothing sent", job.name, r.period.label());
            } else if r.sent {
                println!("sent a preview of {} {} to {}: {}", job.name, r.period.label(), r.recipients.join(", "), r.subject);
            } else {
                println!("dry run {} {}: not sent (would go to {})", job.name, r.period.label(), r.recipients.join(", "));
            }
            println!("report: {}", dir.join("report.html").display());
            Ok(exit::OK)
        }
        Err(f) => {
            if let RunError::Held { reasons, .. } = &f.error {
                eprintln!("held: job `{}` was not sent because its data is stale:", job.name);
                for r in reasons {
                    eprintln!("  {r}");
                }
                eprintln!("no owners were told (a preview)");
                return Ok(f.error.exit_code());
            }
            eprintln!("error: job `{}` failed: {}", job.name, f.error);
            if let Some(file) = f.record {
                eprintln!("the run is recorded in {}", pareto::problem::shown(&project.root, &file).display());
            }
            Ok(f.error.exit_code())
        }
    }
}

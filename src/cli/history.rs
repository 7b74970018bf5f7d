//! `pareto history [JOB] [PERIOD]`: the ledger's runs, newest first; one period in detail.

use clap::Args;
use pareto::exit;
use pareto::ledger::{Ledger, Run};
use std::path::Path;

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Only this job.
    pub job: Option<String>,
    /// One period of the job (its label, e.g. 2026-W47): every recipient and event.
    pub period: Option<String>,
    /// How many runs to show.
    #[arg(long, short = 'n', default_value_t = 20)]
    pub limit: usize,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(root: &Path, a: HistoryArgs) -> anyhow::Result<u8> {
    let project = match super::load(root) {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    let job = match &a.job {
        Some(name) => match super::job(&project, name) {
            Ok(j) => Some(j),
            Err(code) => return Ok(code),
        },
        None => None,
    };
    if !project.config.state.join("ledger.sqlite").exists() {
        println!(
            "no runs yet: the ledger {} does not exist",
            pareto::problem::shown(&project.root, &project.config.state.join("ledger.sqlite")).display()
        );
        return Ok(exit::OK);
    }
    let ledger = match Ledger::open(&project.config.state) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(exit::JOB_FAILED);
        }
    };
    let tz = |run: &Run| project.jobs.iter().find(|j| j.name == run.job).map(|j| j.tz).unwrap_or(chrono_tz::UTC);
    if let (Some(job), Some(period)) = (job, &a.period) {
        let Some(run) = ledger.get(&job.name, period)? else {
            eprintln!("error: the ledger has no run of `{}` for period `{period}`; see `pareto history {}`", job.name, job.name);
            return Ok(exit::USAGE);
        };
        let recipients = ledger.recipients(run.id)?;
        let events = ledger.events(run.id)?;
        if a.json {
            let groups = ledger.groups(run.id)?;
            println!(
                "{}",
                serde_json::to_string_pretty(
                    &serde_json::json!({ "run": run, "groups": groups, "recipients": recipients, "events": events })
                )?
            );
            return Ok(exit::OK);
        }
        let zone = tz(&run);
        println!("{} {}: {} after {} attempt(s), sent {} time(s)", run.job, run.period, run.state, run.attempts, run.sends);
        println!("  due      {}", run.due_at.with_timezone(&zone).format("%a %Y-%m-%d %H:%M %Z"));
        if let Some(s) = &run.subject {
            println!("  subject  {s}");
        }
        if let Some(m) = &run.message_id {
            println!("  message  {m}");
        }
        if let Some(e) = &run.error {
            println!("  error    {e}");
        }
        if let Some(t) = run.next_try_at {
            println!("  retry    {}", t.with_timezone(&zone).format("%a %Y-%m-%d %H:%M %Z"));
        }
        let groups = ledger.groups(run.id)?;
        if groups.is_empty() {
            for r in &recipients {
                println!("  {:<9} {} ({} attempt(s)): {}", r.state.as_str(), r.address, r.attempts, r.reply.as_deref().unwrap_or(""));
            }
        } else {
            println!("  groups   {} ({} not sent)", groups.len(), groups.iter().filter(|g| g.hold.is_some()).count());
            for g in &groups {
                match &g.hold {
                    Some(h) => println!("  group {}: {h}", g.label),
                    None => println!("  group {}: {}", g.label, g.subject.as_deref().unwrap_or("")),
                }
                for r in recipients.iter().filter(|r| r.group == g.group) {
                    println!("    {:<9} {} ({} attempt(s)): {}", r.state.as_str(), r.address, r.attempts, r.reply.as_deref().unwrap_or(""));
                }
            }
        }
        for e in &events {
            println!(
                "  {}  {}{}",
                e.at.with_timezone(&zone).format("%Y-%m-%d %H:%M:%S"),
                e.state,
                e.detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default()
            );
        }
        return Ok(exit::OK);
    }
    let runs = ledger.history(job.map(|j| j.name.as_str()), a.limit)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&runs)?);
        return Ok(exit::OK);
    }
    if runs.is_empty() {
        println!("no runs yet");
        return Ok(exit::OK);
    }
    let width = runs.iter().map(|r| r.job.len()).max().unwrap_or(3).max(3);
    println!("{:<width$}  {:<10}  {:<16}  {:<21}  {:>3}  {:>8}  ERROR", "JOB", "PERIOD", "STATE", "DUE", "TRY", "TOOK");
    for r in &runs {
        let took = match (r.started_at, r.finished_at) {
            (Some(s), Some(f)) if f >= s => format!("{:.1}s", (f - s).num_milliseconds() as f64 / 1000.0),
            _ => "-".into(),
        };
        let due = r.due_at.with_timezone(&tz(r)).format("%Y-%m-%d %H:%M %Z").to_string();
        let error = r.error.as_deref().unwrap_or("");
        println!("{:<width$}  {:<10}  {:<16}  {:<21}  {:>3}  {:>8}  {error}", r.job, r.period, r.state.as_str(), due, r.attempts, took);
    }
    Ok(exit::OK)
}

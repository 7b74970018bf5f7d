//! `pareto run JOB`: one run for CI or cron.

use clap::Args;
use lettre::message::Mailbox;
use pareto::exit;
use pareto::period;
use pareto::pipeline::{self, RunOptions};
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
}

pub async fn run(root: &Path, a: RunArgs) -> anyhow::Result<u8> {
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
    let opts = RunOptions { as_of, dry_run: a.dry_run, to };
    match pipeline::run(&project, job, &opts).await {
        Ok(r) => {
            let dir = pareto::problem::shown(&project.root, &r.dir);
            if r.outcome == "no-alerts" {
                println!("no alert fired for {} {}: nothing sent", job.name, r.period.label());
            } else if r.sent {
                println!("sent {} {} to {}: {}", job.name, r.period.label(), r.recipients.join(", "), r.subject);
            } else {
                println!("dry run {} {}: not sent (would go to {})", job.name, r.period.label(), r.recipients.join(", "));
            }
            println!("report: {}", dir.join("report.html").display());
            if let Some(e) = r.record_error {
                eprintln!("warning: the report was sent, but {e}");
            }
            Ok(exit::OK)
        }
        Err(f) => {
            if let pipeline::RunError::Held { reasons, notice } = &f.error {
                eprintln!("held: job `{}` was not sent because its data is stale:", job.name);
                for r in reasons {
                    eprintln!("  {r}");
                }
                match notice {
                    Some(n) => eprintln!("{n}"),
                    None => eprintln!("no owners were told (a dry run, or no `owners` in {})", job.file.display()),
                }
                if let Some(file) = f.record {
                    eprintln!("the run is recorded in {}", pareto::problem::shown(&project.root, &file).display());
                }
                return Ok(f.error.exit_code());
            }
            eprintln!("error: job `{}` failed: {}", job.name, f.error);
            if let Some(file) = f.record {
                eprintln!("nothing was sent; the run is recorded in {}", pareto::problem::shown(&project.root, &file).display());
            } else {
                eprintln!("nothing was sent");
            }
            Ok(f.error.exit_code())
        }
    }
}

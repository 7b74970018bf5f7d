//! `pareto plan [JOB]`: each job's next runs in its own time zone, and the period each covers.

use clap::Args;
use pareto::exit;
use pareto::period::Period;
use pareto::schedule;
use std::path::Path;

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Only this job (name or file).
    pub job: Option<String>,
    /// How many runs to show per job.
    #[arg(long, short = 'n', default_value_t = 5)]
    pub runs: usize,
    /// Plan from this date or time instead of now (the job's time zone).
    #[arg(long)]
    pub from: Option<String>,
}

pub fn run(root: &Path, a: PlanArgs) -> anyhow::Result<u8> {
    let project = match super::load(root) {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    let jobs: Vec<_> = match &a.job {
        Some(name) => match super::job(&project, name) {
            Ok(j) => vec![j],
            Err(code) => return Ok(code),
        },
        None => project.jobs.iter().collect(),
    };
    for (i, job) in jobs.iter().enumerate() {
        let from = match &a.from {
            Some(t) => match pareto::period::parse_as_of(t, job.tz) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("error: --from: {e}");
                    return Ok(exit::USAGE);
                }
            },
            None => chrono::Utc::now(),
        };
        if i > 0 {
            println!();
        }
        println!("{} ({}, {}, every {})", job.name, job.schedule, job.tz.name(), job.period);
        for at in schedule::next(&job.cron, job.tz, from, a.runs) {
            let period = Period::last_complete(job.period, at, job.tz);
            println!("  {}  covers {} ({})", at.with_timezone(&job.tz).format("%a %Y-%m-%d %H:%M %Z"), period.label(), period.title());
        }
    }
    Ok(exit::OK)
}

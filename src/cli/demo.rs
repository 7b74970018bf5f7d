//! `pareto demo`: a sample lake and the bundled report on it, archived, not sent.

use super::generate::{self, SizeArgs};
use clap::Args;
use pareto::exit;
use pareto::pipeline::{self, RunOptions};
use std::path::Path;

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The job to run.
    #[arg(long, default_value = "weekly-leadership")]
    pub job: String,
    /// Where the demo writes its lake and archive (relative to the project).
    #[arg(long, default_value = "demo")]
    pub dir: std::path::PathBuf,
    #[command(flatten)]
    pub size: SizeArgs,
}

pub async fn run(root: &Path, a: DemoArgs) -> anyhow::Result<u8> {
    pareto::progress::enable();
    if !root.join("pareto.toml").is_file() {
        eprintln!("error: no pareto.toml here or above; run `pareto demo` inside the pareto repository (or a project made from it)");
        return Ok(exit::USAGE);
    }
    let dir = root.join(&a.dir);
    let lake_dir = dir.join("lake");
    let o = a.size.options(lake_dir.clone());
    let until = o.until;
    let s = tokio::task::spawn_blocking(move || generate::generate(&o)).await??;
    println!("sample lake: {} ({} customers, {} orders, {} tickets)", lake_dir.display(), s.customers, s.orders, s.tickets);

    let mut env = super::env();
    env.insert("PARETO_LAKE".into(), lake_dir.display().to_string());
    env.insert("PARETO_ARCHIVE".into(), dir.join("archive").display().to_string());
    let project = match pareto::project::load(root, &env) {
        Ok(p) => p,
        Err(ps) => {
            super::print_problems(&ps);
            return Ok(exit::USAGE);
        }
    };
    let job = match super::job(&project, &a.job) {
        Ok(j) => j,
        Err(code) => return Ok(code),
    };
    let as_of = pareto::period::local_midnight(until, job.tz);
    match pipeline::preview(&project, job, &RunOptions { as_of, dry_run: true, to: Vec::new(), group: None }).await {
        Ok(r) => {
            // A bursting job has one report per group, each in its own folder.
            let (dir, of) = match r.groups.first() {
                Some(g) => (r.dir.join(g), format!(" (the first of {} groups)", r.groups.len())),
                None => (r.dir.clone(), String::new()),
            };
            println!("report for {} ({}){of}: {}", job.name, r.period.title(), dir.join("report.html").display());
            println!("the email it would send: {}", dir.join("message.eml").display());
            // The project's own lake (`[defaults] lake`) is not the demo's: the next commands
            // name it, and the demo's date, so they work as printed on any later day.
            let lake = a.dir.join("lake").display().to_string();
            let lake = if lake.contains(char::is_whitespace) { format!("'{lake}'") } else { lake };
            let date = as_of.with_timezone(&job.tz).format("%Y-%m-%d");
            println!();
            println!("next, on the same lake (your own goes in pareto.toml, `[defaults] lake`):");
            for command in next_commands(&lake, &job.name, &date.to_string(), job.scoring.is_some()) {
                println!("  {command}");
            }
            Ok(exit::OK)
        }
        Err(f) => {
            eprintln!("error: job `{}` failed: {}", job.name, f.error);
            Ok(f.error.exit_code())
        }
    }
}

/// What a newcomer types after the demo, runnable as printed from the project folder.
fn next_commands(lake: &str, job: &str, date: &str, tiers: bool) -> Vec<String> {
    let sql = if tiers {
        "SELECT tier, COUNT(*) AS customers FROM value_tiers GROUP BY tier ORDER BY tier"
    } else {
        "SELECT country, COUNT(*) AS customers FROM customers GROUP BY country ORDER BY customers DESC LIMIT 5"
    };
    vec![
        format!("PARETO_LAKE={lake} pareto check"),
        format!("PARETO_LAKE={lake} pareto run {job} --dry-run --as-of {date}"),
        format!("PARETO_LAKE={lake} pareto query --job {job} --as-of {date} \"{sql}\""),
    ]
}

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

pub async fn run(root: &Path, a: PlanArgs) -> anyhow::Result<u8> {
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
        if let Some(b) = &job.burst {
            match groups(&project, job, from).await {
                Ok(n) => println!(
                    "  one report per `{}`: {n} group(s) in `{}` as of {}",
                    b.key,
                    b.query,
                    from.with_timezone(&job.tz).format("%Y-%m-%d")
                ),
                Err(e) => println!("  one report per `{}` of `{}`: cannot count the groups now: {e}", b.key, b.query),
            }
        }
    }
    Ok(exit::OK)
}

/// How many groups a bursting job's burst query lists for the period before `as_of`.
async fn groups(
    project: &pareto::project::Project,
    job: &pareto::spec::job::Job,
    as_of: chrono::DateTime<chrono::Utc>,
) -> Result<usize, String> {
    let b = job.burst.as_ref().expect("a bursting job");
    let period = Period::last_complete(job.period, as_of, job.tz);
    let wanted = vec![b.query.clone()];
    let prepared = pareto::pipeline::prepare(project, job, &wanted, Default::default(), &period, as_of, project.config.contract)
        .await
        .map_err(|e| e.to_string())?;
    if let Some(e) = prepared.lake_problems.into_iter().next() {
        return Err(e.to_string());
    }
    if let Some(why) = prepared.graph.skipped.get(&b.query) {
        return Err(format!("`{}` is off ({why})", b.query));
    }
    let graph = prepared.graph.ok().map_err(|ps| pareto::problem::list(&ps))?;
    let options = pareto::query::RunOptions { keep: Some(wanted.iter().cloned().collect()), parallel: 0, memory: None };
    let results = pareto::query::run(&prepared.scopes, &graph, &prepared.queries, &options, |_| {}).await.map_err(|e| e.to_string())?;
    let r = results.get(&b.query).ok_or_else(|| format!("`{}` returned nothing", b.query))?;
    pareto::burst::groups(b, r).map(|(g, _)| g.len())
}

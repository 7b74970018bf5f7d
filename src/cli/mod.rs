//! Command-line arguments and one module per subcommand.

mod check;
mod cluster;
mod demo;
mod generate;
mod history;
mod list;
mod plan;
mod query;
mod run;
mod serve;

use clap::{Parser, Subcommand, ValueEnum};
use pareto::problem::Problem;
use pareto::project::{self, Project};
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(name = "pareto", version, about = "Scheduled reports from a Parquet lake: DataFusion SQL → Handlebars → email")]
pub struct Args {
    /// The project folder (default: the nearest folder upward holding pareto.toml).
    #[arg(long, global = true, env = "PARETO_PROJECT")]
    pub project: Option<PathBuf>,
    /// Log format on stderr (level from PARETO_LOG, e.g. `debug`).
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate a sample lake and run the bundled report on it, without sending.
    Demo(demo::DemoArgs),
    /// Run one job now: query, render, archive and send.
    Run(run::RunArgs),
    /// Check every job, query and template (or one job) without running anything.
    Check(check::CheckArgs),
    /// Run ad-hoc SQL against the lake and print the result.
    Query(query::QueryArgs),
    /// Write a deterministic sample lake.
    Generate(generate::GenerateArgs),
    /// List the jobs, their schedules and next run times.
    List,
    /// Show each job's next runs in its own time zone and the period each covers.
    Plan(plan::PlanArgs),
    /// Run the jobs on their schedules until stopped (SIGTERM or Ctrl-C).
    Serve(serve::ServeArgs),
    /// Show the runs the ledger recorded: states, attempts, durations, errors.
    History(history::HistoryArgs),
    /// Start a Ballista scheduler or executor, for jobs with `engine = "ballista://host:port"`.
    Cluster(cluster::ClusterArgs),
}

pub async fn run(args: Args) -> anyhow::Result<u8> {
    let cwd = std::env::current_dir()?;
    let root = project::find_root(args.project.as_deref(), &cwd);
    match args.command {
        Command::Demo(a) => demo::run(&root, a).await,
        Command::Run(a) => run::run(&root, a).await,
        Command::Check(a) => check::run(&root, a).await,
        Command::Query(a) => query::run(&root, a).await,
        Command::Generate(a) => generate::run(a).await,
        Command::List => list::run(&root),
        Command::Plan(a) => plan::run(&root, a).await,
        Command::Serve(a) => serve::run(&root, a).await,
        Command::History(a) => history::run(&root, a),
        Command::Cluster(a) => cluster::run(a).await,
    }
}

/// The process environment as a map (for config overrides).
pub fn env() -> BTreeMap<String, String> {
    std::env::vars().collect()
}

/// Load the project, or print why not.
pub fn load(root: &std::path::Path) -> Result<Project, u8> {
    project::load(root, &env()).map_err(|ps| {
        print_problems(&ps);
        pareto::exit::USAGE
    })
}

/// Find a job by name or file, or print why not.
pub fn job<'a>(project: &'a Project, name: &str) -> Result<&'a pareto::spec::job::Job, u8> {
    project.job(name).map_err(|ps| {
        print_problems(&ps);
        pareto::exit::USAGE
    })
}

pub fn print_problems(ps: &[Problem]) {
    for p in ps {
        eprintln!("error: {p}");
    }
}

//! `pareto query`: ad-hoc SQL against the lake, where a data team tries a query first. The
//! project's queries can be read as tables and the period parameters are bound.

use clap::{Args, ValueEnum};
use pareto::exit;
use pareto::period::{Period, PeriodKind};
use pareto::pipeline;
use pareto::problem::Problem;
use pareto::project::QueryFile;
use pareto::query;
use pareto::results;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub struct QueryArgs {
    /// The SQL to run (or use -f).
    pub sql: Option<String>,
    /// Read the SQL from this file.
    #[arg(short = 'f', long = "file", conflicts_with = "sql")]
    pub file: Option<PathBuf>,
    /// The lake (default: the job's with --job, else `[defaults] lake` or PARETO_LAKE).
    #[arg(long)]
    pub lake: Option<String>,
    /// Bind this job's parameters and period.
    #[arg(long)]
    pub job: Option<String>,
    /// Period for $period_start etc. when no --job is given.
    #[arg(long, value_enum, default_value = "week")]
    pub period: PeriodArg,
    /// Run as of this date or time.
    #[arg(long)]
    pub as_of: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Print at most this many rows in table format.
    #[arg(long, default_value_t = 100)]
    pub max_rows: usize,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Table,
    Csv,
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PeriodArg {
    Day,
    Week,
    Month,
    Quarter,
    Hour,
    Minute,
}

pub async fn run(root: &Path, a: QueryArgs) -> anyhow::Result<u8> {
    let project = match super::load(root) {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    let (sql, shown) = match (&a.sql, &a.file) {
        (Some(s), _) => (s.clone(), PathBuf::from("<query>")),
        (None, Some(f)) => match std::fs::read_to_string(f) {
            Ok(s) => (s, f.clone()),
            Err(e) => {
                eprintln!("error: cannot read {}: {e}", f.display());
                return Ok(exit::USAGE);
            }
        },
        (None, None) => {
            eprintln!("error: give the SQL as an argument or with -f FILE");
            return Ok(exit::USAGE);
        }
    };
    let job = match &a.job {
        Some(j) => match super::job(&project, j) {
            Ok(j) => Some(j.clone()),
            Err(code) => return Ok(code),
        },
        None => None,
    };
    let lake_spec = a
        .lake
        .clone()
        .or_else(|| job.as_ref().map(|j| j.lake.clone()))
        .or_else(|| project.config.lake_override.clone())
        .or_else(|| project.config.lake.clone());
    let Some(lake_spec) = lake_spec else {
        eprintln!("error: which lake? pass --lake PATH_OR_URL, or set `[defaults] lake` in pareto.toml");
        return Ok(exit::USAGE);
    };
    let tz: chrono_tz::Tz =
        job.as_ref().map(|j| j.tz).or_else(|| project.config.timezone.as_ref().and_then(|t| t.parse().ok())).unwrap_or(chrono_tz::UTC);
    let as_of = match &a.as_of {
        Some(t) => match pareto::period::parse_as_of(t, tz) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: --as-of: {e}");
                return Ok(exit::USAGE);
            }
        },
        None => chrono::Utc::now(),
    };
    let kind = job.as_ref().map(|j| j.period).unwrap_or(match a.period {
        PeriodArg::Minute => PeriodKind::Minute,
        PeriodArg::Hour => PeriodKind::Hour,
        PeriodArg::Day => PeriodKind::Day,
        PeriodArg::Week => PeriodKind::Week,
        PeriodArg::Month => PeriodKind::Month,
        PeriodArg::Quarter => PeriodKind::Quarter,
    });
    let mut job_for_params = job.clone().unwrap_or_else(|| adhoc_job(tz, kind, &lake_spec));
    job_for_params.lake = lake_spec.clone();
    let period = Period::last_complete(kind, as_of, tz);

    const NAME: &str = "__adhoc";
    let extra = BTreeMap::from([(NAME.to_string(), QueryFile::new(NAME, shown, sql))]);
    let result: Result<_, Vec<Problem>> = async {
        let prepared = pipeline::prepare(&project, &job_for_params, &[NAME.to_string()], extra, &period, as_of, false)
            .await
            .map_err(|e| vec![Problem::new(None, e.to_string())])?;
        if let Some(e) = prepared.lake_problems.into_iter().next() {
            return Err(vec![Problem::new(None, e.to_string())]);
        }
        let graph = prepared.graph.ok()?;
        if let Some(why) = graph.skipped.get(NAME) {
            return Err(vec![Problem::new(None, format!("cannot run: {why}"))]);
        }
        let mut results = query::run(&prepared.scopes, &graph, &prepared.queries, |_| {}).await.map_err(|e| match e {
            query::QueryError::Problems(ps) => ps,
            other => vec![Problem::new(None, other.to_string())],
        })?;
        Ok(results.remove(NAME).expect("the ad-hoc query ran"))
    }
    .await;
    let r = match result {
        Ok(r) => r,
        Err(ps) => {
            super::print_problems(&ps);
            return Ok(exit::JOB_FAILED);
        }
    };
    match a.format {
        Format::Table => {
            let mut shown_batches = Vec::new();
            let mut left = a.max_rows;
            for b in &r.batches {
                if left == 0 {
                    break;
                }
                let take = b.num_rows().min(left);
                shown_batches.push(b.slice(0, take));
                left -= take;
            }
            if shown_batches.is_empty() {
                shown_batches.push(datafusion::arrow::record_batch::RecordBatch::new_empty(r.schema.clone()));
            }
            println!("{}", results::to_pretty(&shown_batches));
            let more = if r.rows > a.max_rows {
                format!(" (showing {}; use --max-rows or --format csv for all)", a.max_rows)
            } else {
                String::new()
            };
            println!("{} row(s) in {} ms{more}", r.rows, r.elapsed.as_millis());
        }
        Format::Csv => {
            use std::io::Write;
            std::io::stdout().write_all(&results::to_csv(&r)?)?;
        }
        Format::Json => println!("{}", serde_json::to_string_pretty(&results::to_json(&r))?),
    }
    Ok(exit::OK)
}

/// A stand-in job for binding the period parameters when no job is named.
fn adhoc_job(tz: chrono_tz::Tz, period: PeriodKind, lake: &str) -> pareto::spec::job::Job {
    pareto::spec::job::Job {
        name: "adhoc".into(),
        description: String::new(),
        file: PathBuf::new(),
        schedule: "0 0 * * *".into(),
        cron: <croner::Cron as std::str::FromStr>::from_str("0 0 * * *").expect("valid cron"),
        tz,
        period,
        lake: lake.into(),
        queries: Vec::new(),
        template: String::new(),
        subject: String::new(),
        to: Vec::new(),
        cc: Vec::new(),
        bcc: Vec::new(),
        owners: Vec::new(),
        attach: Vec::new(),
        attach_max_rows: 10_000,
        currency: "USD".into(),
        params: Default::default(),
        scoring: None,
        service_levels: Vec::new(),
        require_fresh: Vec::new(),
        inherit: None,
        send_if_alerts: false,
        alerts: Vec::new(),
        catch_up: pareto::spec::job::CatchUp::Latest,
    }
}

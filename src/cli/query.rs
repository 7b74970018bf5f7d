//! `pareto query`: ad-hoc SQL against the lake, where a data team tries a query first. The
//! project's queries can be read as tables (computed, or as a past run archived them), the period
//! parameters are bound, and `--explain` shows where the time went.

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
    /// Run the queries it reads, then run it with EXPLAIN ANALYZE and print the plan with each
    /// operator's rows, time and memory.
    #[arg(long)]
    pub explain: bool,
    /// Read the results a run archived (`JOB`, its latest period, or `JOB/PERIOD`) as tables,
    /// instead of computing those queries: last week's `customer_facts` as it was.
    #[arg(long, value_name = "JOB[/PERIOD]")]
    pub from_archive: Option<String>,
    /// Bind `$burst_key` to this group's key (a number or text), to try a bursting job's
    /// per-group queries for one group.
    #[arg(long, value_name = "KEY")]
    pub group: Option<String>,
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
    let mut job_for_params = job.clone().unwrap_or_else(|| {
        adhoc_job(tz, kind, &lake_spec, project.config.engine_override.clone().unwrap_or_else(|| project.config.engine.clone()))
    });
    job_for_params.lake = lake_spec.clone();
    let period = Period::last_complete(kind, as_of, tz);

    let archived = match &a.from_archive {
        Some(spec) => match archived_results(&project, spec) {
            Ok(a) => a,
            Err(message) => {
                eprintln!("error: --from-archive {spec}: {message}");
                return Ok(exit::USAGE);
            }
        },
        None => BTreeMap::new(),
    };

    const NAME: &str = "__adhoc";
    let q = QueryFile::new(NAME, shown, sql);
    let extra = BTreeMap::from([(NAME.to_string(), q.clone())]);
    let result: Result<_, Vec<Problem>> = async {
        let mut prepared = pipeline::prepare_with(&project, &job_for_params, &[NAME.to_string()], extra, &archived, &period, as_of, false)
            .await
            .map_err(|e| vec![Problem::new(None, e.to_string())])?;
        if let Some(key) = &a.group {
            let value = match key.parse::<i64>() {
                Ok(n) => datafusion::common::ScalarValue::Int64(Some(n)),
                Err(_) => datafusion::common::ScalarValue::Utf8(Some(key.clone())),
            };
            for scope in [&mut prepared.scopes.current, &mut prepared.scopes.previous] {
                let mut p = (*scope.params).clone();
                p.insert(pareto::burst::KEY_PARAM.into(), value.clone());
                scope.params = std::sync::Arc::new(p);
            }
        }
        if let Some(e) = prepared.lake_problems.into_iter().next() {
            return Err(vec![Problem::new(None, e.to_string())]);
        }
        let mut graph = prepared.graph.ok()?;
        if let Some(why) = graph.skipped.get(NAME) {
            return Err(vec![Problem::new(None, format!("cannot run: {why}"))]);
        }
        let as_problems = |e: query::QueryError| match e {
            query::QueryError::Problems(ps) => ps,
            other => vec![Problem::new(None, other.to_string())],
        };
        if a.explain {
            // Everything it reads first, then the query itself under EXPLAIN ANALYZE.
            graph.order.retain(|n| n != NAME);
            let options = query::RunOptions { keep: Some(Default::default()), parallel: project.config.parallel_queries, memory: None };
            let mut keep_all = options.clone();
            keep_all.keep = None;
            query::run(&prepared.scopes, &graph, &prepared.queries, &keep_all, |_| {}).await.map_err(as_problems)?;
            let ctx = &prepared.scopes.current.ctx;
            let plan = query::plan(ctx, &q, &prepared.scopes.current.params).await.map_err(|p| vec![p])?;
            let explained = async {
                let df = ctx.execute_logical_plan(plan).await?;
                df.explain(false, true)?.collect().await
            }
            .await
            .map_err(|e| vec![query::sql_problem(&q, &e)])?;
            return Ok(Err(explained));
        }
        let options = query::RunOptions { keep: Some([NAME.to_string()].into()), parallel: project.config.parallel_queries, memory: None };
        let mut results = query::run(&prepared.scopes, &graph, &prepared.queries, &options, |_| {}).await.map_err(as_problems)?;
        let r = results.remove(NAME).expect("the ad-hoc query ran");
        if let Some(why) = &r.off {
            return Err(vec![Problem::new(None, format!("cannot run: {why}"))]);
        }
        Ok(Ok(r))
    }
    .await;
    let r = match result {
        Ok(Ok(r)) => r,
        Ok(Err(explained)) => {
            print_explained(&explained);
            return Ok(exit::OK);
        }
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

/// EXPLAIN ANALYZE's output: the plan text of each row (the physical plan with its metrics).
fn print_explained(batches: &[datafusion::arrow::record_batch::RecordBatch]) {
    use datafusion::arrow::array::{Array, StringArray};
    for b in batches {
        let (Some(kind), Some(plan)) = (b.column_by_name("plan_type"), b.column_by_name("plan")) else {
            println!("{}", results::to_pretty(std::slice::from_ref(b)));
            continue;
        };
        let (Some(kind), Some(plan)) = (kind.as_any().downcast_ref::<StringArray>(), plan.as_any().downcast_ref::<StringArray>()) else {
            println!("{}", results::to_pretty(std::slice::from_ref(b)));
            continue;
        };
        for i in 0..b.num_rows() {
            if !kind.is_null(i) {
                println!("-- {}", kind.value(i));
            }
            println!("{}", plan.value(i));
        }
    }
}

/// The results a run archived as Parquet, by name: `JOB` (its latest period) or `JOB/PERIOD`.
fn archived_results(project: &pareto::project::Project, spec: &str) -> Result<BTreeMap<String, PathBuf>, String> {
    let (job, period) = match spec.split_once('/') {
        Some((j, p)) => (j, Some(p)),
        None => (spec, None),
    };
    let job_dir = project.config.archive.join(job);
    let dir = match period {
        Some(p) => job_dir.join(p),
        None => {
            // The latest period that has results: its own folder before a preview of it.
            let mut runs: Vec<String> = std::fs::read_dir(&job_dir)
                .map_err(|e| format!("no archive for job `{job}` in {} ({e})", job_dir.display()))?
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().to_string())
                .filter(|n| !n.starts_with('.') && job_dir.join(n).join("results").is_dir())
                .collect();
            runs.sort_by(|a, b| {
                (a.trim_end_matches(".preview"), !a.ends_with(".preview")).cmp(&(b.trim_end_matches(".preview"), !b.ends_with(".preview")))
            });
            match runs.last() {
                Some(latest) => job_dir.join(latest),
                None => return Err(format!("job `{job}` has no archived run with results in {}", job_dir.display())),
            }
        }
    };
    let results = dir.join("results");
    let entries = std::fs::read_dir(&results).map_err(|e| format!("cannot read {} ({e})", results.display()))?;
    let mut out = BTreeMap::new();
    for e in entries.filter_map(|e| e.ok()) {
        let path = e.path();
        if path.extension().is_some_and(|x| x == "parquet")
            && let Some(stem) = path.file_stem()
        {
            out.insert(stem.to_string_lossy().to_string(), path);
        }
    }
    if out.is_empty() {
        return Err(format!("{} holds no Parquet results (runs before pareto 0.2 archived JSON and CSV only)", results.display()));
    }
    eprintln!("reading {} archived result(s) from {}", out.len(), dir.display());
    Ok(out)
}

/// A stand-in job for binding the period parameters when no job is named.
fn adhoc_job(tz: chrono_tz::Tz, period: PeriodKind, lake: &str, engine: pareto::cluster::Engine) -> pareto::spec::job::Job {
    pareto::spec::job::Job {
        name: "adhoc".into(),
        description: String::new(),
        file: PathBuf::new(),
        schedule: "0 0 * * *".into(),
        cron: <croner::Cron as std::str::FromStr>::from_str("0 0 * * *").expect("valid cron"),
        tz,
        period,
        lake: lake.into(),
        engine,
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
        prediction: None,
        service_levels: Vec::new(),
        require_fresh: Vec::new(),
        inherit: None,
        send_if_alerts: false,
        alerts: Vec::new(),
        catch_up: pareto::spec::job::CatchUp::Latest,
        burst: None,
    }
}

//! One run of a job, stage by stage: period → lake → queries → render → archive → deliver.
//! The only module that knows every stage; `runner` (for `pareto run` and the daemon) and
//! previews call it.

use crate::archive::{self, QueryRecord, RunRecord};
use crate::deliver::{self, DeliverError, Draft};
use crate::exit;
use crate::lake::{self, LakeError};
use crate::period::Period;
use crate::project::Project;
use crate::project::QueryFile;
use crate::query::{self, Graph, Params, QueryError, QueryResult, Scope, Scopes, Tables};
use crate::render::{RenderError, Templates};
use crate::results;
use crate::spec::job::AttachFormat;
use crate::spec::job::{Job, ParamValue};
use chrono::{DateTime, SecondsFormat, Utc};
use datafusion::common::ScalarValue;
use lettre::message::Mailbox;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The moment the run happens as (the report covers the last complete period before it).
    pub as_of: DateTime<Utc>,
    /// Build and archive everything, send nothing.
    pub dry_run: bool,
    /// Send to these instead of the job's recipients.
    pub to: Vec<Mailbox>,
    /// A bursting job: only this group (its key, or its folder name).
    pub group: Option<String>,
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Lake(#[from] LakeError),
    #[error(transparent)]
    Query(#[from] QueryError),
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error(transparent)]
    Deliver(#[from] DeliverError),
    #[error("the run took longer than {0}s to query, render and archive (`lake.timeout_secs` in pareto.toml); nothing was sent")]
    Timeout(u64),
    #[error("cannot write the archive {path}: {source}")]
    Archive { path: PathBuf, source: std::io::Error },
    /// Stale data: the report was not sent.
    #[error("held: {}", .reasons.join("; "))]
    Held {
        reasons: Vec<String>,
        /// What became of the notice to the owners (`None` when there was none to send).
        notice: Option<String>,
    },
}

impl RunError {
    pub fn exit_code(&self) -> u8 {
        match self {
            RunError::Deliver(DeliverError::Smtp { .. }) => exit::DELIVERY_FAILED,
            RunError::Deliver(DeliverError::NoSender | DeliverError::Config(_)) => exit::USAGE,
            RunError::Held { .. } => exit::HELD,
            _ => exit::JOB_FAILED,
        }
    }
}

/// A failed run: the error, and the run folder where `run.json` records it.
#[derive(Debug)]
pub struct Failure {
    pub error: RunError,
    /// The file that records the failed attempt, when it could be written.
    pub record: Option<PathBuf>,
}

/// One message of a run: the report (one group's, for a bursting job) and who gets it.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// The group's folder in the run folder (`""` for a job without `[burst]`).
    pub group: String,
    /// The group as people read it, `17 (Ada Akers)` (`""` without `[burst]`).
    pub label: String,
    /// The envelope sender.
    pub sender: Option<lettre::Address>,
    /// The message as it is archived in `message.eml` and stored in the outbox.
    pub bytes: Vec<u8>,
    /// Every address that gets a copy (To, Cc and Bcc), in that order, each in its own envelope.
    pub recipients: Vec<lettre::Address>,
    pub subject: String,
    pub message_id: String,
    /// Why it is not sent: the group had no rows, no alert fired for it, or it has no usable
    /// address.
    pub hold: Option<String>,
}

/// A rendered, archived run, ready to send: the exact message bytes and who gets them.
#[derive(Debug)]
pub struct Rendered {
    pub dir: PathBuf,
    pub period: Period,
    /// One message; for a bursting job one per group, in the burst query's order.
    pub messages: Vec<Outgoing>,
    /// A `send_if = "alerts"` job with nothing to say: nothing is to be sent.
    pub no_alerts: bool,
    /// Groups of a bursting job without a usable address (a data-quality problem the owners
    /// hear about), and rows of the burst query without a key.
    pub unaddressed: Vec<String>,
    /// `run.json` so far: the caller records how delivery went and writes it.
    pub record: RunRecord,
}

impl Rendered {
    /// The messages to send.
    pub fn to_send(&self) -> impl Iterator<Item = &Outgoing> {
        self.messages.iter().filter(|m| m.hold.is_none())
    }
}

/// What a preview (`--dry-run`, `--to`) did.
#[derive(Debug)]
pub struct Report {
    pub dir: PathBuf,
    pub period: Period,
    pub sent: bool,
    /// `sent`, `dry-run`, or `no-alerts` (a `send_if = "alerts"` job with nothing to say).
    pub outcome: &'static str,
    pub recipients: Vec<String>,
    pub subject: String,
    /// How each recipient's delivery ended (`--to` only).
    pub deliveries: Vec<deliver::smtp::Outcome>,
    /// A bursting job's group folders, each holding its group's report.
    pub groups: Vec<String>,
    /// Groups not sent, with why.
    pub held: Vec<String>,
    /// Groups without a usable address.
    pub unaddressed: Vec<String>,
}

/// The parameters every query can use, and the job's own.
pub fn params(job: &Job, period: &Period, as_of: DateTime<Utc>) -> Params {
    let tz = job.tz;
    let prev = period.prev();
    let ts = |t: DateTime<Utc>| ScalarValue::TimestampMicrosecond(Some(t.timestamp_micros()), Some("UTC".into()));
    let date =
        |d: chrono::NaiveDate| ScalarValue::Date32(Some((d - chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()).num_days() as i32));
    let mut p = BTreeMap::new();
    p.insert("period_start".into(), ts(period.start_instant(tz)));
    p.insert("period_end".into(), ts(period.end_instant(tz)));
    p.insert("prev_period_start".into(), ts(prev.start_instant(tz)));
    p.insert("prev_period_end".into(), ts(prev.end_instant(tz)));
    p.insert("prev_prev_period_start".into(), ts(prev.prev().start_instant(tz)));
    p.insert("as_of".into(), ts(as_of));
    p.insert("period_start_date".into(), date(period.start_date()));
    p.insert("period_end_date".into(), date(period.end_date()));
    p.insert("prev_period_start_date".into(), date(prev.start_date()));
    p.insert("as_of_date".into(), date(as_of.with_timezone(&tz).date_naive()));
    p.insert("period_label".into(), ScalarValue::Utf8(Some(period.label())));
    p.insert("period_months".into(), ScalarValue::Float64(Some(period.months())));
    let next = period.next();
    p.insert("next_period_days".into(), ScalarValue::Float64(Some((next.end_date() - next.start_date()).num_days() as f64)));
    if let Some(pr) = &job.prediction {
        p.insert("prediction_unit_days".into(), ScalarValue::Float64(Some(pr.unit.days())));
        p.insert("prediction_horizon".into(), ScalarValue::Float64(Some(pr.horizon)));
    }
    for (k, v) in &job.params {
        let s = match v {
            ParamValue::Int(i) => ScalarValue::Int64(Some(*i)),
            ParamValue::Float(f) => ScalarValue::Float64(Some(*f)),
            ParamValue::Text(t) => ScalarValue::Utf8(Some(t.clone())),
            ParamValue::Bool(b) => ScalarValue::Boolean(Some(*b)),
            ParamValue::Date(d) => date(*d),
        };
        p.insert(k.clone(), s);
    }
    p
}

/// An instant as `run.json` writes it.
pub fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn period_json(p: &Period, job: &Job) -> Value {
    json!({
        "kind": p.kind.to_string(),
        "label": p.label(),
        "title": p.title(),
        "start": p.start_text(),
        "end": p.end_text(),
        "last_day": p.last_day().to_string(),
        "start_at": iso(p.start_instant(job.tz)),
        "end_at": iso(p.end_instant(job.tz)),
    })
}

/// The data a template sees. A query that is off (its table is missing) is there too, as
/// `{ skipped: true, reason, rows: [], columns: [], row_count: 0 }`, so a section can say why.
pub fn template_data(
    job: &Job,
    period: &Period,
    as_of: DateTime<Utc>,
    results: &BTreeMap<String, QueryResult>,
    skipped: &BTreeMap<String, String>,
    missing_tables: &BTreeSet<String>,
    max_rows: usize,
    queries: &BTreeMap<String, QueryFile>,
) -> Value {
    // Templates see the job's own queries; the ones they read (customer_facts, value_tiers, …)
    // can be millions of rows and stay out of memory-hungry JSON unless the job lists them.
    let mut res = Map::new();
    for (name, r) in results.iter().filter(|(n, _)| job.queries.contains(*n) || job.queries.is_empty()) {
        if let Some(why) = &r.off {
            res.insert(name.clone(), json!({ "columns": [], "rows": [], "row_count": 0, "skipped": true, "reason": why }));
            continue;
        }
        // A template sees at most `[render] max_rows` rows of a result (and `row_count`, all of
        // them): a list of a quarter of a million customers is for the archive, not for memory.
        let mut j = results::to_json_limited(r, max_rows);
        j["skipped"] = json!(false);
        // Formats the query declares (`-- pareto: format csat=percent`): the table helper uses
        // them instead of guessing from the column's name.
        if let (Some(q), Some(columns)) = (queries.get(name), j["columns"].as_array_mut()) {
            for (_, column, declared) in q.formats() {
                let Ok(d) = declared else { continue };
                if let Some(c) = columns.iter_mut().find(|c| c["name"] == column.as_str()) {
                    c["format"] = json!(crate::render::format::word(d.format));
                    if let Some(n) = d.decimals {
                        c["decimals"] = json!(n);
                    }
                }
            }
        }
        res.insert(name.clone(), j);
    }
    for (name, why) in skipped {
        res.insert(name.clone(), json!({ "columns": [], "rows": [], "row_count": 0, "skipped": true, "reason": why }));
    }
    let params: Map<String, Value> = job
        .params
        .iter()
        .map(|(k, v)| {
            let j = match v {
                ParamValue::Int(i) => json!(i),
                ParamValue::Float(f) => json!(f),
                ParamValue::Text(t) => json!(t),
                ParamValue::Bool(b) => json!(b),
                ParamValue::Date(d) => json!(d.to_string()),
            };
            (k.clone(), j)
        })
        .collect();
    json!({
        "job": { "name": job.name, "description": job.description, "currency": job.currency, "timezone": job.tz.name() },
        "period": period_json(period, job),
        "prev_period": period_json(&period.prev(), job),
        "as_of": iso(as_of),
        "params": params,
        "results": res,
        "missing_tables": missing_tables,
    })
}

/// Sessions, the query graph and its lake tables: everything ready to check or run a job's queries.
pub struct Prepared {
    pub scopes: Scopes,
    pub graph: Graph,
    pub queries: BTreeMap<String, QueryFile>,
    /// Lake tables that could not be registered (unreadable files, contract violations).
    pub lake_problems: Vec<LakeError>,
}

/// Open the job's lake, build the period's and the previous period's sessions, work out the query
/// graph for `wanted` (plus `extra` queries, such as an ad-hoc one), and register the lake tables
/// the graph reads in both sessions.
pub async fn prepare(
    project: &Project,
    job: &Job,
    wanted: &[String],
    extra: BTreeMap<String, QueryFile>,
    period: &Period,
    as_of: DateTime<Utc>,
    contract: bool,
) -> Result<Prepared, LakeError> {
    prepare_with(project, job, wanted, extra, &BTreeMap::new(), period, as_of, contract).await
}

/// [`prepare`], with archived results (Parquet files, by table name) read as tables in place of
/// the queries of the same names.
#[allow(clippy::too_many_arguments)]
pub async fn prepare_with(
    project: &Project,
    job: &Job,
    wanted: &[String],
    extra: BTreeMap<String, QueryFile>,
    archived: &BTreeMap<String, PathBuf>,
    period: &Period,
    as_of: DateTime<Utc>,
    contract: bool,
) -> Result<Prepared, LakeError> {
    // Both sessions share one memory pool, so `[lake] memory_limit` bounds the run as a whole.
    let runtime = lake::runtime(project.config.memory_limit);
    let lake = lake::open(&job.lake, &project.root)?;
    let (current, previous) = match &job.engine {
        crate::cluster::Engine::Embedded => (lake::session_on(runtime.clone()), lake::session_on(runtime)),
        crate::cluster::Engine::Ballista { host, port } => {
            let engine = job.engine.to_string();
            if let Err(cause) = crate::cluster::reachable(host, *port, std::time::Duration::from_secs(10)).await {
                return Err(LakeError::Scheduler { engine, cause });
            }
            let scratch = crate::cluster::Scratch::new(&lake.url, lake.store.clone()).map(Arc::new);
            let session = || {
                crate::cluster::session(host, *port, runtime.clone(), scratch.clone())
                    .map_err(|e| LakeError::Scheduler { engine: engine.clone(), cause: lake::root_cause(&e) })
            };
            (session()?, session()?)
        }
    };
    lake.attach(&current);
    lake.attach(&previous);
    let tables = lake.tables().await?;
    let mut queries = project.queries.clone();
    queries.extend(crate::model::queries(job));
    queries.extend(extra);
    let mut provided = vec![crate::model::service_levels::TABLE.to_string()];
    for (name, file) in archived {
        queries.remove(name);
        provided.push(name.clone());
        for ctx in [&current, &previous] {
            let path = file.to_string_lossy();
            ctx.register_parquet(name.as_str(), path.as_ref(), datafusion::prelude::ParquetReadOptions::default()).await.map_err(|e| {
                LakeError::Table { table: name.clone(), cause: format!("cannot read the archived result {path}: {}", lake::root_cause(&e)) }
            })?;
        }
    }
    let levels = crate::model::service_levels::batch(&job.service_levels);
    for ctx in [&current, &previous] {
        let t = datafusion::datasource::MemTable::try_new(levels.schema(), vec![vec![levels.clone()]]).expect("service levels table");
        let _ = ctx.register_table(crate::model::service_levels::TABLE, Arc::new(t));
    }
    let graph = query::graph(
        &current,
        &queries,
        wanted,
        &Tables { lake: &tables, provided: &provided, optional: crate::contract::TABLE_NAMES, lake_shown: &lake.shown },
    );
    let mut lake_problems = Vec::new();
    // The freshness gate reads its tables whether or not a query does.
    let gated: Vec<String> = job.require_fresh.iter().map(|f| f.table.clone()).filter(|t| tables.contains(t)).collect();
    let to_register: BTreeSet<String> = graph.lake_tables.iter().cloned().chain(gated).collect();
    for t in &to_register {
        match lake.register(&current, t, contract).await {
            Ok(provider) => {
                let _ = previous.register_table(datafusion::common::TableReference::bare(t.as_str()), provider);
            }
            Err(e) => lake_problems.push(e),
        }
    }
    for t in &graph.stand_ins {
        let schema = Arc::new(crate::contract::schema(t).expect("stand-ins are contract tables"));
        for ctx in [&current, &previous] {
            let empty = datafusion::datasource::MemTable::try_new(schema.clone(), vec![vec![]]).expect("empty table");
            let _ = ctx.register_table(datafusion::common::TableReference::bare(t.as_str()), Arc::new(empty));
        }
    }
    let prev = period.prev();
    let scopes = Scopes {
        current: Scope { ctx: current, params: Arc::new(params(job, period, as_of)) },
        previous: Scope { ctx: previous, params: Arc::new(params(job, &prev, period.start_instant(job.tz))) },
    };
    Ok(Prepared { scopes, graph, queries, lake_problems })
}

/// The run folder a run of `period` writes to: the period's own, or `<period>.preview` for a
/// dry run or a send to `--to` (which never touch the record of what the recipients got).
pub fn run_dir(project: &Project, job: &Job, period: &Period, opts: &RunOptions) -> PathBuf {
    let preview = opts.dry_run || !opts.to.is_empty();
    let label = if preview { format!("{}.preview", period.label()) } else { period.label() };
    archive::run_dir(&project.config.archive, &job.name, &label)
}

/// Query, render and archive `job`'s `period`, and build the message; send nothing. On failure
/// `run.json` in the run folder records why (never over the record of a sent period).
pub async fn render(project: &Project, job: &Job, opts: &RunOptions, period: Period) -> Result<Rendered, Failure> {
    let started = Utc::now();
    let dir = run_dir(project, job, &period, opts);
    let mut record = RunRecord {
        job: job.name.clone(),
        period: period.label(),
        period_start: iso(period.start_instant(job.tz)),
        period_end: iso(period.end_instant(job.tz)),
        as_of: iso(opts.as_of),
        engine: job.engine.to_string(),
        started_at: iso(started),
        finished_at: String::new(),
        outcome: "failed".into(),
        error: None,
        queries: Vec::new(),
        recipients: Vec::new(),
        message_id: None,
        subject: None,
        smtp_reply: None,
        deliveries: Vec::new(),
        alerts: Vec::new(),
        notice: None,
        groups: Vec::new(),
        render: None,
    };
    let limit = project.config.lake_timeout;
    let deadline = tokio::time::Instant::now() + limit;
    let result = match tokio::time::timeout_at(deadline, stages(project, job, opts, &period, &dir, &mut record, deadline)).await {
        Ok(r) => r,
        Err(_) => Err(RunError::Timeout(limit.as_secs())),
    };
    match result {
        Ok(r) => Ok(r),
        Err(error) => Err(fail(&dir, record, error)),
    }
}

/// Record a failed run in its folder's `run.json` (or `run-failed.json` beside a sent one).
pub fn fail(dir: &std::path::Path, mut record: RunRecord, error: RunError) -> Failure {
    record.finished_at = iso(Utc::now());
    record.error = Some(error.to_string());
    if let RunError::Held { notice, .. } = &error {
        record.outcome = "held".into();
        record.notice = notice.clone();
    }
    let name = archive::record_name(dir, &record.outcome);
    let written = record.write(dir, name).is_ok();
    // The caller reports the error; the log line is for `PARETO_LOG=info` and the daemon.
    tracing::info!(error = %error, "run failed");
    Failure { error, record: written.then(|| dir.join(name)) }
}

/// A preview: render `job` for the period before `opts.as_of`, and send it only to `opts.to`
/// (or nowhere, for a dry run). The ledger is not involved: a preview is not the period's send.
pub async fn preview(project: &Project, job: &Job, opts: &RunOptions) -> Result<Report, Failure> {
    let period = Period::last_complete(job.period, opts.as_of, job.tz);
    let span = tracing::info_span!("preview", job = %job.name, period = %period.label());
    let _enter = span.enter();
    // Previews of one period share a folder: one at a time, from the build to the final record
    // (another waits its turn), so none swaps the folder away while one writes into it. The lock
    // is a dot-file beside the folder (a preview needs no state folder).
    let dir = run_dir(project, job, &period, opts);
    let parent = dir.parent().unwrap_or(std::path::Path::new(".")).to_path_buf();
    let label = dir.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    let lock_path = parent.join(format!(".{label}.lock"));
    let _lock = blocking(|| -> std::io::Result<std::fs::File> {
        std::fs::create_dir_all(&parent)?;
        let f = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&lock_path)?;
        f.lock()?;
        Ok(f)
    })
    .map_err(|source| Failure { error: RunError::Archive { path: lock_path.clone(), source }, record: None })?;
    let mut r = render(project, job, opts, period).await?;
    let mut deliveries = Vec::new();
    let outcome = if r.no_alerts {
        "no-alerts"
    } else if opts.dry_run {
        "dry-run"
    } else {
        let mut failed = Vec::new();
        for m in r.messages.iter().filter(|m| m.hold.is_none()) {
            let sent =
                deliver::smtp::send_each(&project.config.smtp, m.sender.as_ref(), &m.recipients, &m.bytes, &mut deliver::smtp::Quiet).await;
            for d in &sent {
                let mut rec = archive::DeliveryRecord::from(d);
                rec.group = m.group.clone();
                r.record.deliveries.push(rec);
                if !matches!(d.attempt, deliver::smtp::Attempt::Sent(_)) {
                    failed.push(format!("{}: {}", d.recipient, deliver::smtp::describe(&d.attempt)));
                }
            }
            deliveries.extend(sent);
        }
        if !failed.is_empty() {
            let error = RunError::Deliver(DeliverError::Smtp { server: project.config.smtp.host.clone(), message: failed.join("; ") });
            return Err(fail(&r.dir, r.record, error));
        }
        "sent"
    };
    r.record.outcome = outcome.into();
    r.record.finished_at = iso(Utc::now());
    r.record
        .write(&r.dir, "run.json")
        .map_err(|e| Failure { error: RunError::Archive { path: r.dir.join("run.json"), source: e }, record: None })?;
    let held = r.messages.iter().filter_map(|m| m.hold.as_ref().map(|h| format!("{}: {h}", m.label))).collect();
    let groups = r.messages.iter().filter(|m| !m.group.is_empty()).map(|m| m.group.clone()).collect();
    Ok(Report {
        dir: r.dir,
        period,
        sent: outcome == "sent",
        outcome,
        recipients: r.record.recipients.clone(),
        subject: r.messages.first().map(|m| m.subject.clone()).unwrap_or_default(),
        deliveries,
        groups,
        held,
        unaddressed: r.unaddressed,
    })
}

async fn stages(
    project: &Project,
    job: &Job,
    opts: &RunOptions,
    period: &Period,
    dir: &std::path::Path,
    record: &mut RunRecord,
    deadline: tokio::time::Instant,
) -> Result<Rendered, RunError> {
    let config = &project.config;
    // Everything that can be checked before touching the lake is checked first.
    let templates = Templates::load(&project.templates_dir, &project.root, config.strict).map_err(|ps| RenderError::Problems(ps))?;
    // A dry run sends nothing, so it needs no SMTP password or CA file.
    if !opts.dry_run {
        deliver::smtp::preflight(&config.smtp)?;
    }
    let from = match (&config.from, opts.dry_run) {
        (Some(f), _) => f.clone(),
        (None, true) => "pareto <pareto@localhost>".parse().expect("valid fallback sender"),
        (None, false) => return Err(DeliverError::NoSender.into()),
    };
    if opts.group.is_some() && job.burst.is_none() {
        return Err(QueryError::Problems(vec![crate::problem::Problem::new(
            job.file.clone(),
            format!("`--group`: job `{}` has no `[burst]`, so it has no groups", job.name),
        )])
        .into());
    }

    let prepared = prepare(project, job, &wanted(job), BTreeMap::new(), period, opts.as_of, config.contract).await?;
    let Prepared { scopes, graph, queries, lake_problems } = prepared;
    if job.engine == crate::cluster::Engine::Embedded {
        for scope in [&scopes.current, &scopes.previous] {
            lake::share_cores(&scope.ctx, config.parallel_queries);
        }
    }
    if let Some(e) = lake_problems.into_iter().next() {
        return Err(e.into());
    }
    let graph = graph.ok().map_err(QueryError::Problems)?;
    let per_group = crate::burst::nodes(&graph, &queries);
    let problems = crate::burst::problems(job, &graph, &queries, &per_group);
    if !problems.is_empty() {
        return Err(QueryError::Problems(problems).into());
    }

    // The data-health gate: stale data holds the report, and the owners hear why.
    let stale = crate::model::freshness::check(&scopes.current.ctx, &job.require_fresh, opts.as_of)
        .await
        .map_err(|p| QueryError::Problems(vec![p]))?;
    if !stale.is_empty() {
        let reasons: Vec<String> = stale.iter().map(|s| s.describe(opts.as_of)).collect();
        // The caller tells the owners (once per period, however often it is retried).
        return Err(RunError::Held { reasons, notice: None });
    }

    if job.queries.iter().all(|q| graph.skipped.contains_key(q)) {
        let why: Vec<String> = job.queries.iter().map(|q| format!("`{q}`: {}", graph.skipped[q])).collect();
        return Err(QueryError::Problems(vec![crate::problem::Problem::new(
            job.file.clone(),
            format!("nothing to report: every query is off ({}); check the job's `lake`", why.join("; ")),
        )])
        .into());
    }
    if let Some(b) = &job.burst
        && let Some(why) = graph.skipped.get(&b.query)
    {
        return Err(QueryError::Problems(vec![crate::problem::Problem::new(
            job.file.clone(),
            format!("the burst query `{}` is off ({why}), so there are no groups to send to; nothing was sent", b.query),
        )])
        .into());
    }
    // The run folder is built beside the real one and swapped in whole once complete. Each
    // result goes to the archive as Parquet as soon as it is made; only the job's own queries
    // (what the template reads) stay in memory to the end.
    let staging = archive::Staging::new(dir).map_err(|source| RunError::Archive { path: dir.to_path_buf(), source })?;
    // The queries that run once: all of them, or for a bursting job all but the per-group ones.
    // What the per-group ones read stays in memory until every group is done.
    let mut keep: BTreeSet<String> = job.queries.iter().filter(|q| !per_group.contains(*q)).cloned().collect();
    keep.extend(job.burst.as_ref().map(|b| b.query.clone()));
    for n in &per_group {
        keep.extend(graph.deps[n].iter().filter(|d| !per_group.contains(*d)).cloned());
    }
    // What each query held in the job's last run decides which may run beside each other.
    let memory = archive::last_memory(&project.config.archive, &job.name);
    let options = query::RunOptions { keep: Some(keep), parallel: project.config.parallel_queries, memory: memory.clone() };
    let mut stats: BTreeMap<String, QueryRecord> = BTreeMap::new();
    let shared = subgraph(&graph, |n| !per_group.contains(n));
    let results = run_queries(&scopes, &shared, &queries, &options, &staging.path().join("results"), &mut stats, true).await;
    // Recorded for a failed run too: what ran, and how long it took, before the failure.
    record.queries = graph.order.iter().filter_map(|n| stats.get(n).cloned()).collect();
    let results = results?;
    for (name, why) in &graph.skipped {
        tracing::info!(query = %name, reason = %why, "query off");
    }
    let rc = RenderCtx { config, job, period, opts, templates: &templates, from: &from, queries: &queries, graph: &graph };

    let mut unaddressed = Vec::new();
    let (messages, fired_none) = match &job.burst {
        // Rendering, attachments and the archive's JSON are synchronous work that can take
        // seconds on big results: done on a thread of its own, so that the daemon's other jobs
        // and its status endpoint are not held up.
        None => {
            let own: BTreeSet<String> = job.queries.iter().cloned().collect();
            let (m, fired_none) = blocking(|| render_message(&rc, &results, staging.path(), None, &own, record))?;
            (vec![m], fired_none)
        }
        Some(b) => {
            let file = queries[&b.query].file.clone();
            let (mut groups, unkeyed) = crate::burst::groups(b, &results[&b.query])
                .map_err(|why| QueryError::Problems(vec![crate::problem::Problem::new(file.clone(), why)]))?;
            if groups.is_empty() {
                return Err(QueryError::Problems(vec![crate::problem::Problem::new(
                    file,
                    format!(
                        "`{}` returned no groups (no row with a `{}`), so there is no one to send to; nothing was sent",
                        b.query, b.key
                    ),
                )])
                .into());
            }
            if unkeyed > 0 {
                unaddressed.push(format!("{unkeyed} row(s) of `{}` have no `{}` and belong to no group", b.query, b.key));
            }
            if let Some(want) = &opts.group {
                groups.retain(|g| g.key_text == *want || g.folder == *want);
                if groups.is_empty() {
                    return Err(QueryError::Problems(vec![crate::problem::Problem::new(
                        file,
                        format!("`--group {want}`: `{}` returned no group with `{}` = {want}", b.query, b.key),
                    )])
                    .into());
                }
            }
            // The shared results the template reads are archived once, beside the groups.
            let shared_own: BTreeSet<String> = job.queries.iter().filter(|q| !per_group.contains(*q)).cloned().collect();
            blocking(|| write_json(config, &results, &shared_own, staging.path()))?;
            let own: BTreeSet<String> = job.queries.iter().filter(|q| per_group.contains(*q)).cloned().collect();
            // A per-group query reading a shared result that is off (a model the data could not
            // support) is off too, for every group, and says why.
            let mut off: BTreeMap<String, String> = BTreeMap::new();
            for n in graph.order.iter().filter(|n| per_group.contains(*n)) {
                let why = graph.deps[n].iter().find_map(|d| results.get(d).and_then(|r| r.off.clone()).or_else(|| off.get(d).cloned()));
                if let Some(why) = why {
                    off.insert(n.clone(), why);
                }
            }
            let per = subgraph(&graph, |n| per_group.contains(n) && !off.contains_key(n));
            let group_options = query::RunOptions { keep: Some(own.clone()), parallel: project.config.parallel_queries, memory };
            let mut progress = crate::progress::Progress::counting(groups.len(), "groups");
            let mut messages = Vec::new();
            let mut group_stats: BTreeMap<String, QueryRecord> = BTreeMap::new();
            for g in &groups {
                let shown = crate::burst::describe(g);
                let began = std::time::Instant::now();
                progress.started(&shown);
                let with_key = |s: &Scope| {
                    let mut p = (*s.params).clone();
                    p.insert(crate::burst::KEY_PARAM.into(), g.key.clone());
                    Scope { ctx: s.ctx.clone(), params: Arc::new(p) }
                };
                let scoped = Scopes { current: with_key(&scopes.current), previous: with_key(&scopes.previous) };
                let gdir = staging.path().join(&g.folder);
                let mut one = BTreeMap::new();
                let mut mine = run_queries(&scoped, &per, &queries, &group_options, &gdir.join("results"), &mut one, false).await?;
                for (n, why) in off.iter().filter(|(n, _)| own.contains(*n)) {
                    mine.insert(n.clone(), query::off(n, why.clone()));
                }
                for (name, q) in one {
                    let total = group_stats.entry(name).or_insert_with(|| QueryRecord { rows: 0, millis: 0, ..q.clone() });
                    total.rows += q.rows;
                    total.millis += q.millis;
                    total.peak_mib = total.peak_mib.max(q.peak_mib);
                    total.result_mib = total.result_mib.max(q.result_mib);
                    total.spilled_mib += q.spilled_mib;
                }
                let rows: BTreeMap<String, usize> = own.iter().map(|n| (n.clone(), mine.get(n).map_or(0, |r| r.rows))).collect();
                let empty = !own.is_empty() && rows.values().all(|n| *n == 0);
                let mut all = results.clone();
                all.extend(mine);
                let (mut m, fired_none) = blocking(|| render_message(&rc, &all, &gdir, Some(g), &own, record))?;
                if opts.to.is_empty() && !g.address_problems.is_empty() {
                    unaddressed.push(format!("group {shown}: {}", g.address_problems.join("; ")));
                }
                m.hold = if empty && !b.send_empty {
                    Some("no rows: not sent (`[burst] empty = \"skip\"`)".to_string())
                } else if job.send_if_alerts && fired_none {
                    Some("no alert fired: not sent".to_string())
                } else if m.recipients.is_empty() {
                    Some(format!("not sent: {}", g.address_problems.join("; ")))
                } else {
                    None
                };
                record.groups.push(archive::GroupRecord {
                    key: g.key_text.clone(),
                    name: g.name.clone(),
                    folder: g.folder.clone(),
                    recipients: m.recipients.iter().map(|a| a.to_string()).collect(),
                    subject: m.subject.clone(),
                    message_id: (!m.bytes.is_empty()).then(|| m.message_id.clone()),
                    not_sent: m.hold.clone(),
                    rows,
                    millis: began.elapsed().as_millis(),
                });
                messages.push(m);
                progress.done(&shown);
            }
            progress.finish();
            record.queries.extend(graph.order.iter().filter_map(|n| group_stats.remove(n)).map(|mut q| {
                q.name = format!("{} (×{} groups)", q.name, groups.len());
                q
            }));
            record.recipients =
                messages.iter().filter(|m| m.hold.is_none()).flat_map(|m| m.recipients.iter().map(|a| a.to_string())).collect();
            (messages, false)
        }
    };
    // `lake.timeout_secs` covers the whole run: a run past it is not swapped in or sent.
    if tokio::time::Instant::now() >= deadline {
        return Err(RunError::Timeout(config.lake_timeout.as_secs()));
    }
    staging.commit().map_err(|source| RunError::Archive { path: dir.to_path_buf(), source })?;

    let no_alerts = job.burst.is_none() && job.send_if_alerts && fired_none;
    if no_alerts {
        tracing::info!("no alert fired; nothing to send");
    }
    Ok(Rendered { dir: dir.to_path_buf(), period: *period, messages, no_alerts, unaddressed, record: record.clone() })
}

/// The queries a job runs: its own, and the burst query that lists its groups.
pub fn wanted(job: &Job) -> Vec<String> {
    let mut w = job.queries.clone();
    if let Some(b) = &job.burst
        && !w.contains(&b.query)
    {
        w.push(b.query.clone());
    }
    w
}

/// The part of `graph` whose nodes pass `keep`, reading only each other.
fn subgraph(graph: &Graph, keep: impl Fn(&str) -> bool) -> Graph {
    let order: Vec<String> = graph.order.iter().filter(|n| keep(n)).cloned().collect();
    let deps = order.iter().map(|n| (n.clone(), graph.deps[n].iter().filter(|d| keep(d)).cloned().collect())).collect();
    Graph { order, deps, ..graph.clone() }
}

/// Run a graph's queries, archiving each result as Parquet in `results_dir` as soon as it is made
/// and recording its figures in `stats`.
async fn run_queries(
    scopes: &Scopes,
    graph: &Graph,
    queries: &BTreeMap<String, QueryFile>,
    options: &query::RunOptions,
    results_dir: &std::path::Path,
    stats: &mut BTreeMap<String, QueryRecord>,
    show_progress: bool,
) -> Result<BTreeMap<String, QueryResult>, RunError> {
    let mut writes = Vec::new();
    let mut progress = show_progress.then(|| crate::progress::Progress::new(graph.order.len()));
    let begun = std::time::Instant::now();
    let mut started: BTreeMap<String, u128> = BTreeMap::new();
    let results = query::run(scopes, graph, queries, options, |event| match event {
        query::Event::Started(name) => {
            started.insert(name.to_string(), begun.elapsed().as_millis());
            if let Some(p) = progress.as_mut() {
                p.started(name)
            }
        }
        query::Event::Done(r) => {
            if let Some(p) = progress.as_mut() {
                p.done(&r.name)
            }
            let mib = |b: usize| (b as f64 / 1048576.0 * 10.0).round() / 10.0;
            match &r.off {
                Some(why) => tracing::info!(query = %r.name, reason = %why, "query off"),
                None => {
                    tracing::info!(query = %r.name, rows = r.rows, millis = r.elapsed.as_millis() as u64, peak_mib = mib(r.peak_bytes), "query done")
                }
            }
            stats.insert(
                r.name.clone(),
                QueryRecord {
                    name: r.name.clone(),
                    file: queries[query::source(&r.name, queries).0].file.display().to_string(),
                    rows: r.rows,
                    started_ms: started.get(&r.name).copied().unwrap_or_else(|| begun.elapsed().as_millis().saturating_sub(r.elapsed.as_millis())),
                    millis: r.elapsed.as_millis(),
                    peak_mib: mib(r.peak_bytes),
                    result_mib: mib(r.result_bytes),
                    spilled_mib: mib(r.spilled_bytes),
                    off: r.off.clone(),
                },
            );
            // The previous period's results are in that period's own folder; an intermediate
            // may opt out (`-- pareto: archive off`).
            let archived = queries.get(query::source(&r.name, queries).0).is_none_or(|q| q.archived());
            if !query::split_lag(&r.name).1 && archived && r.off.is_none() {
                let r = r.clone();
                let path = results_dir.join(format!("{}.parquet", r.name));
                writes.push(tokio::task::spawn_blocking(move || {
                    archive::write_atomic_with(&path, |w| results::write_parquet(&r, w).map_err(std::io::Error::other))
                        .map_err(|source| RunError::Archive { path, source })
                }));
            }
        }
    })
    .await;
    if let Some(p) = progress.as_mut() {
        p.finish();
    }
    for w in writes {
        w.await.map_err(|e| RunError::Archive { path: results_dir.to_path_buf(), source: std::io::Error::other(e) })??;
    }
    Ok(results?)
}

/// What rendering a message needs besides the results.
struct RenderCtx<'a> {
    config: &'a crate::spec::config::Config,
    job: &'a Job,
    period: &'a Period,
    opts: &'a RunOptions,
    templates: &'a Templates,
    from: &'a Mailbox,
    queries: &'a BTreeMap<String, QueryFile>,
    graph: &'a Graph,
}

/// The JSON of the results in `own` that the template reads, into `dir/results/`.
fn write_json(
    config: &crate::spec::config::Config,
    results: &BTreeMap<String, QueryResult>,
    own: &BTreeSet<String>,
    dir: &std::path::Path,
) -> Result<(), RunError> {
    for name in own {
        if let Some(r) = results.get(name) {
            let path = dir.join(format!("results/{name}.json"));
            archive::write_atomic_with(&path, |w| results::write_json(r, config.max_rows, w))
                .map_err(|source| RunError::Archive { path: path.clone(), source })?;
        }
    }
    Ok(())
}

/// The report's parts with a line naming the attachments left out of the email for its size.
fn with_left_out(html: &str, text: &str, left_out: &[(String, usize)]) -> (String, String) {
    if left_out.is_empty() {
        return (html.to_string(), text.to_string());
    }
    let list: Vec<String> = left_out.iter().map(|(name, bytes)| format!("{name} ({:.1} MB)", *bytes as f64 / 1_000_000.0)).collect();
    let line = format!(
        "Left out of this email because it would be too large to send: {}. The report's archive folder keeps {}.",
        list.join(", "),
        if left_out.len() == 1 { "it" } else { "them" }
    );
    let note = format!(
        "<table role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\"><tr><td style=\"padding:8px 12px;font-size:13px;line-height:19px;color:#57606a;font-family:Helvetica,Arial,sans-serif;\">{}</td></tr></table>\n",
        handlebars::html_escape(&line)
    );
    let html = match html.rfind("</body>") {
        Some(i) => format!("{}{note}{}", &html[..i], &html[i..]),
        None => format!("{html}{note}"),
    };
    (html, format!("{text}\n{line}\n"))
}

/// Render one message from `results` into `dir` (the run folder, or a group's folder in it): the
/// report, its attachments, the JSON of the results in `own`, and the message itself. Returns it,
/// and whether no alert fired.
fn render_message(
    rc: &RenderCtx,
    results: &BTreeMap<String, QueryResult>,
    dir: &std::path::Path,
    group: Option<&crate::burst::Group>,
    own: &BTreeSet<String>,
    record: &mut RunRecord,
) -> Result<(Outgoing, bool), RunError> {
    let (job, period, opts) = (rc.job, rc.period, rc.opts);
    let mut data = template_data(job, period, opts.as_of, results, &rc.graph.skipped, &rc.graph.stand_ins, rc.config.max_rows, rc.queries);
    if let Some(g) = group {
        data["burst"] = json!({
            "key": g.key_text,
            "name": g.name,
            "to": g.to.iter().map(|m| m.to_string()).collect::<Vec<_>>(),
            "folder": g.folder,
        });
    }
    let fired = crate::alerts::evaluate(&job.alerts, &data["results"], &|message, row| {
        let mut with_job = row.clone();
        with_job["job"] = data["job"].clone();
        rc.templates.render_text(message, &with_job).unwrap_or_else(|_| message.to_string())
    });
    let prefix = group.map(|g| format!("group {}: ", crate::burst::describe(g))).unwrap_or_default();
    record.alerts.extend(fired.iter().map(|f| format!("{prefix}{} ({}): {}", f.name, f.severity, f.message)));
    data["alerts"] = serde_json::to_value(&fired).expect("alerts serialise");
    let started = std::time::Instant::now();
    let mut rendered = rc.templates.report(&job.template, &job.subject, &job.file, &data)?;
    let millis = started.elapsed().as_millis();
    tracing::info!(millis = millis as u64, charts = rendered.images.len(), "report rendered");
    // The archive holds exactly what is sent: the parts as the message carries them.
    rendered.html = deliver::mail_text(&rendered.html);
    record.render = Some(archive::RenderRecord {
        millis,
        charts: rendered.images.len(),
        chart_bytes: rendered.images.iter().map(|i| i.png.len()).sum(),
        html_bytes: rendered.html.len(),
    });
    rendered.text = deliver::mail_text(&rendered.text);

    let group_to: Vec<Mailbox> = group.map(|g| g.to.clone()).unwrap_or_default();
    let (to, cc, bcc): (&[Mailbox], &[Mailbox], &[Mailbox]) = if !opts.to.is_empty() {
        (&opts.to, &[], &[])
    } else if group.is_some() {
        (&group_to, &[], &[])
    } else {
        (&job.to, &job.cc, &job.bcc)
    };
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.join(name);
        archive::write_atomic(&path, bytes).map_err(|source| RunError::Archive { path, source })
    };
    let mut attachments = Vec::new();
    for a in job.attach.iter().filter(|a| results.contains_key(&a.result)) {
        // An email is no place for a million rows: attachments stop at `attach_max_rows` (the
        // archive keeps every row in the Parquet file).
        let r = &results[&a.result];
        let file = format!("{}.{}", a.result, a.format.extension());
        let bytes = match a.format {
            AttachFormat::Csv => results::attachment_csv(r, job.attach_max_rows).map_err(|e| e.to_string()),
            AttachFormat::Xlsx => {
                let declared = rc.queries.get(&a.result).map(|q| q.formats()).unwrap_or_default();
                let declared = declared.into_iter().filter_map(|(_, c, d)| Some((c, d.ok()?))).collect();
                crate::render::xlsx::workbook(r, job.attach_max_rows, &declared, &job.currency)
            }
        }
        .map_err(|e| DeliverError::Build(format!("cannot write {file}: {e}")))?;
        write(&format!("results/{file}"), &bytes)?;
        attachments.push((format!("{}-{}.{}", a.result, period.label(), a.format.extension()), bytes));
    }
    let id_label = match group {
        Some(g) => format!("{}.{}", period.label(), g.folder),
        None => period.label(),
    };
    let message_id = deliver::message_id(&job.name, &id_label, rc.from);
    // The archive is complete before anything is sent: what the template read as JSON, the
    // report, the message.
    write_json(rc.config, results, own, dir)?;
    // A group without an address gets no message (its report is archived all the same).
    let (bytes, sender, recipients) = if to.is_empty() && cc.is_empty() && bcc.is_empty() {
        (Vec::new(), None, Vec::new())
    } else {
        // A message over `[render] max_message_mb` leaves its largest attachments out, one at a
        // time, and says so in both parts; the archive keeps them (results/).
        let mut attachments = attachments;
        let mut left_out: Vec<(String, usize)> = Vec::new();
        loop {
            let (html, text) = with_left_out(&rendered.html, &rendered.text, &left_out);
            let built = deliver::build(Draft {
                from: rc.from,
                reply_to: rc.config.reply_to.as_ref(),
                to,
                cc,
                bcc,
                subject: &rendered.subject,
                html: html.clone(),
                text: text.clone(),
                attachments: attachments.clone(),
                images: rendered.images.iter().map(|i| (i.cid.clone(), i.file.clone(), i.png.clone())).collect(),
                message_id: message_id.clone(),
                date: opts_date(opts),
            })?;
            if built.bytes.len() > rc.config.max_message_bytes
                && let Some(i) = (0..attachments.len()).max_by_key(|i| attachments[*i].1.len())
            {
                let (name, content) = attachments.remove(i);
                tracing::warn!(attachment = %name, bytes = content.len(), "left out of the email: the message is over [render] max_message_mb");
                left_out.push((name, content.len()));
                continue;
            }
            rendered.html = html;
            rendered.text = text;
            write("message.eml", &built.bytes)?;
            let recipients: Vec<lettre::Address> = built.envelope.to().to_vec();
            break (built.bytes, built.envelope.from().cloned(), recipients);
        }
    };
    // The archived report shows its charts from files beside it (charts/), not Content-IDs.
    for i in &rendered.images {
        write(&format!("charts/{}", i.file), &i.png)?;
    }
    write("report.html", crate::render::chart::archived_html(&rendered.html, &rendered.images).as_bytes())?;
    write("report.txt", rendered.text.as_bytes())?;
    if group.is_none() {
        record.recipients = recipients.iter().map(|a| a.to_string()).collect();
        record.message_id = Some(message_id.clone());
        record.subject = Some(rendered.subject.clone());
    }
    let out = Outgoing {
        group: group.map(|g| g.folder.clone()).unwrap_or_default(),
        label: group.map(crate::burst::describe).unwrap_or_default(),
        sender,
        bytes,
        recipients,
        subject: rendered.subject,
        message_id,
        hold: None,
    };
    Ok((out, fired.is_empty()))
}

/// Run `f`, which blocks, without holding up the other tasks of a multi-threaded runtime.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// The Date header: the run's real time.
fn opts_date(_opts: &RunOptions) -> std::time::SystemTime {
    std::time::SystemTime::now()
}

/// Check `job` without running it: open the lake, read the schemas of the tables it needs, plan
/// every query with its parameters bound, and render the templates over empty results. Returns
/// every problem found.
pub async fn check(project: &Project, job: &Job, templates: &Templates, notes: &mut Vec<String>) -> Vec<crate::problem::Problem> {
    use crate::problem::Problem;
    let mut problems = Vec::new();
    for missing in templates.missing_parts(&job.template) {
        problems.push(Problem::new(job.file.clone(), format!("report template `{}` lacks {missing}", job.template)));
    }
    let lake_problem = |e: LakeError| Problem::new(job.file.clone(), e.to_string());
    let as_of = Utc::now();
    let period = Period::last_complete(job.period, as_of, job.tz);
    // Queries are checked on the embedded engine whatever the job's engine is (a check must not
    // need the cluster); for a cluster job, each plan is also checked to travel there.
    let remote = match &job.engine {
        crate::cluster::Engine::Embedded => false,
        crate::cluster::Engine::Ballista { host, port } => {
            if let Err(cause) = crate::cluster::reachable(host, *port, std::time::Duration::from_secs(5)).await {
                notes.push(format!(
                    "{}: the Ballista scheduler at {} does not answer now ({cause}); its runs fail until it does",
                    job.file.display(),
                    job.engine
                ));
            }
            if !job.lake.contains("://") || job.lake.starts_with("file://") {
                notes.push(format!(
                    "{}: runs on {} over a local folder: every executor (and the scheduler) must see `{}` at the same path",
                    job.file.display(),
                    job.engine,
                    job.lake
                ));
            }
            true
        }
    };
    let mut embedded = job.clone();
    embedded.engine = crate::cluster::Engine::Embedded;
    let job = &embedded;
    let prepared = match prepare(project, job, &wanted(job), BTreeMap::new(), &period, as_of, project.config.contract).await {
        Ok(p) => p,
        Err(e) => {
            problems.push(lake_problem(e));
            return problems;
        }
    };
    let Prepared { scopes, mut graph, queries, lake_problems } = prepared;
    problems.append(&mut graph.problems);
    for t in &graph.stand_ins {
        notes.push(format!("{}: the lake has no table `{t}`; queries that can do without it read it as empty", job.file.display()));
    }
    for (name, why) in graph.skipped.iter().filter(|(n, _)| job.burst.as_ref().is_none_or(|b| b.query != **n)) {
        notes.push(format!("{}: `{name}` will be off (its report section says so): {why}", job.file.display()));
    }
    if !lake_problems.is_empty() {
        problems.extend(lake_problems.into_iter().map(lake_problem));
        return problems;
    }
    // A bursting job whose burst query is off (the lake has no `owners`) has no one to send to:
    // a note, as for any section that is off; its queries need what that lake lacks.
    if let Some(b) = &job.burst
        && let Some(why) = graph.skipped.get(&b.query)
    {
        notes.push(format!("{}: sends nothing on this lake: its burst query `{}` is off ({why})", job.file.display(), b.query));
        return problems;
    }
    let per_group = crate::burst::nodes(&graph, &queries);
    problems.extend(crate::burst::problems(job, &graph, &queries, &per_group));
    // A per-group query is planned with `$burst_key` typed as the burst query returns the key.
    let mut scopes = scopes;
    if let Some(b) = &job.burst
        && let Some(q) = queries.get(&b.query)
        && graph.order.contains(&b.query)
    {
        if let Ok(plan) = query::plan(&scopes.current.ctx, q, &scopes.current.params).await {
            let schema = plan.schema().as_arrow().clone();
            let have: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
            for (what, column) in [("key", Some(&b.key)), ("to", Some(&b.to)), ("name", b.name.as_ref())] {
                let Some(column) = column else { continue };
                if schema.field_with_name(column).is_err() {
                    problems.push(Problem::new(
                        job.file.clone(),
                        format!(
                            "`[burst] {what} = \"{column}\"`: `{}` has no column `{column}` (it returns: {})",
                            b.query,
                            have.join(", ")
                        ),
                    ));
                }
            }
            let key = match schema.field_with_name(&b.key).map(|f| f.data_type().clone()) {
                Ok(t) if t.is_integer() => Some(ScalarValue::Int64(None)),
                Ok(
                    datafusion::arrow::datatypes::DataType::Utf8
                    | datafusion::arrow::datatypes::DataType::Utf8View
                    | datafusion::arrow::datatypes::DataType::LargeUtf8,
                ) => Some(ScalarValue::Utf8(None)),
                Ok(t) => {
                    problems.push(Problem::new(
                        job.file.clone(),
                        format!("`[burst] key = \"{}\"`: `{}` returns it as {t}; a burst key is an integer or text", b.key, b.query),
                    ));
                    None
                }
                Err(_) => None,
            };
            if let Some(key) = key {
                let with_key = |s: &Scope| {
                    let mut p = (*s.params).clone();
                    p.insert(crate::burst::KEY_PARAM.into(), key.clone());
                    Scope { ctx: s.ctx.clone(), params: Arc::new(p) }
                };
                scopes = Scopes { current: with_key(&scopes.current), previous: with_key(&scopes.previous) };
            }
        }
    }
    problems.extend(query::check(&scopes, &graph, &queries, remote).await);
    // Alert rules name columns of their query's result: check them against its planned shape.
    for rule in &job.alerts {
        let Ok(table) = scopes.current.ctx.table_provider(rule.query.as_str()).await else { continue };
        let schema = table.schema();
        let mut needed = vec![rule.metric.clone()];
        needed.extend(rule.filter.iter().map(|(k, _)| k.clone()));
        match &rule.condition {
            crate::spec::job::Condition::Rise { baseline, .. } | crate::spec::job::Condition::Fall { baseline, .. } => {
                needed.push(baseline.clone())
            }
            crate::spec::job::Condition::Spike { order_by, .. } => needed.push(order_by.clone()),
            _ => {}
        }
        for column in needed {
            if schema.field_with_name(&column).is_err() {
                let have: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
                problems.push(Problem::new(
                    job.file.clone(),
                    format!("alert `{}`: `{}` has no column `{column}` (it has: {})", rule.name, rule.query, have.join(", ")),
                ));
            }
        }
    }
    // Declared formats name columns of their query's result.
    for name in &graph.order {
        let Some(q) = queries.get(name) else { continue };
        let declared = q.formats();
        if declared.is_empty() {
            continue;
        }
        let Ok(table) = scopes.current.ctx.table_provider(name.as_str()).await else { continue };
        let schema = table.schema();
        for (line, column, _) in declared {
            if schema.field_with_name(&column).is_err() {
                let have: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
                problems.push(
                    Problem::new(
                        q.file.clone(),
                        format!("`-- pareto: format` names `{column}`, which `{name}` does not return (it returns: {})", have.join(", ")),
                    )
                    .at(line, 1),
                );
            }
        }
    }
    if problems.is_empty() {
        // Render over empty results of the right shape: finds misspelt result names and helper
        // misuse without touching data.
        let mut results = BTreeMap::new();
        for name in &graph.order {
            if let Ok(Some(t)) = scopes.current.ctx.table_provider(name.as_str()).await.map(Some) {
                let schema = t.schema();
                results.insert(
                    name.clone(),
                    QueryResult {
                        name: name.clone(),
                        schema,
                        batches: Vec::new(),
                        rows: 0,
                        elapsed: Default::default(),
                        peak_bytes: 0,
                        result_bytes: 0,
                        spilled_bytes: 0,
                        off: None,
                    },
                );
            }
        }
        let data = template_data(job, &period, as_of, &results, &graph.skipped, &graph.stand_ins, project.config.max_rows, &queries);
        if let Err(RenderError::Problems(ps)) = templates.report(&job.template, &job.subject, &job.file, &data) {
            problems.extend(ps);
        }
    }
    problems
}

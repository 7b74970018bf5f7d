//! `jobs/*.toml`: one report job. Parsed strictly (unknown keys are errors with their line), then
//! checked into a [`Job`] whose schedule, time zone, addresses and file references are known good.

use super::config::Config;
use super::toml_problem;
use crate::period::PeriodKind;
use crate::problem::Problem;
use croner::Cron;
use lettre::message::Mailbox;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJob {
    name: Spanned<String>,
    #[serde(default)]
    description: String,
    schedule: Spanned<String>,
    timezone: Option<Spanned<String>>,
    period: PeriodKind,
    lake: Option<Spanned<String>>,
    engine: Option<Spanned<String>>,
    queries: Vec<Spanned<String>>,
    template: Spanned<String>,
    subject: Spanned<String>,
    #[serde(default)]
    to: Vec<Spanned<String>>,
    #[serde(default)]
    cc: Vec<Spanned<String>>,
    #[serde(default)]
    bcc: Vec<Spanned<String>>,
    #[serde(default)]
    owners: Vec<Spanned<String>>,
    #[serde(default)]
    attach: Vec<Spanned<toml::Value>>,
    attach_max_rows: Option<usize>,
    currency: Option<String>,
    #[serde(default)]
    params: BTreeMap<String, Spanned<toml::Value>>,
    scoring: Option<Spanned<RawScoring>>,
    inherit: Option<Spanned<String>>,
    #[serde(default)]
    require_fresh: BTreeMap<String, Spanned<String>>,
    send_if: Option<Spanned<String>>,
    catch_up: Option<Spanned<toml::Value>>,
    #[serde(default)]
    alert: Vec<Spanned<RawAlert>>,
    #[serde(default)]
    service_levels: BTreeMap<String, Spanned<RawServiceLevel>>,
    prediction: Option<Spanned<RawPrediction>>,
    burst: Option<Spanned<RawBurst>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBurst {
    query: Spanned<String>,
    key: String,
    to: String,
    name: Option<String>,
    empty: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrediction {
    unit: Option<String>,
    horizon: Option<f64>,
    discount_rate: Option<f64>,
    min_customers: Option<usize>,
    min_repeat_buyers: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScoring {
    #[serde(default)]
    source: Option<String>,
    per: Option<String>,
    tiers: Option<Vec<String>>,
    #[serde(default)]
    exit_tolerance: usize,
    #[serde(default)]
    pin: BTreeMap<String, String>,
    #[serde(default)]
    refine: BTreeMap<String, RawRefine>,
    criteria: Vec<Spanned<RawCriterion>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRefine {
    min_each: u8,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCriterion {
    name: String,
    expr: String,
    weight: Option<f64>,
    quantiles: Option<u8>,
    thresholds: Option<Vec<f64>>,
    #[serde(default)]
    lower_is_better: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAlert {
    name: Option<String>,
    query: String,
    metric: String,
    #[serde(default, rename = "where")]
    filter: BTreeMap<String, toml::Value>,
    below: Option<f64>,
    above: Option<f64>,
    rise: Option<String>,
    fall: Option<String>,
    baseline: Option<String>,
    spike: Option<f64>,
    over: Option<usize>,
    at_least: Option<f64>,
    order_by: Option<String>,
    severity: Option<String>,
    message: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServiceLevel {
    promise: String,
    first_reply_hours: Option<f64>,
    resolution_hours: Option<f64>,
}

/// How a criterion's raw value becomes a category 1..k (1 = least favourable).
#[derive(Debug, Clone, PartialEq)]
pub enum Bands {
    /// k equal-sized groups by rank; ties share the lower category.
    Quantiles(u8),
    /// Ascending cut points: below the first is 1, at or above the last is k.
    Thresholds(Vec<f64>),
}

/// One scoring criterion.
#[derive(Debug, Clone, PartialEq)]
pub struct Criterion {
    pub name: String,
    /// A SQL expression over the scored table (an aggregate when scoring groups).
    pub expr: String,
    pub weight: f64,
    pub bands: Bands,
    pub lower_is_better: bool,
}

impl Criterion {
    /// Number of categories.
    pub fn k(&self) -> u8 {
        match &self.bands {
            Bands::Quantiles(k) => *k,
            Bands::Thresholds(t) => t.len() as u8 + 1,
        }
    }
}

/// The value-tier model declared in `[scoring]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Scoring {
    /// The table scored (default `customer_facts`).
    pub source: String,
    /// Score groups of this column instead of customers.
    pub per: Option<String>,
    pub tiers: Vec<String>,
    pub exit_tolerance: usize,
    /// Tier → minimum category every criterion must reach to stay in it.
    pub min_each: BTreeMap<String, u8>,
    /// Id → tier, overriding everything.
    pub pins: Vec<(String, String)>,
    pub criteria: Vec<Criterion>,
    /// A criterion reads the `[prediction]` model's `clv` table (joined to the source by customer).
    pub predicted: bool,
}

/// The time unit of the `[prediction]` model: purchases are counted per day, and recency, age and
/// the horizon are measured in this unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Day,
    Week,
    Month,
}

impl Unit {
    /// Days in one unit (a month is a twelfth of 365.25 days).
    pub fn days(self) -> f64 {
        match self {
            Unit::Day => 1.0,
            Unit::Week => 7.0,
            Unit::Month => 30.4375,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Unit::Day => "day",
            Unit::Week => "week",
            Unit::Month => "month",
        }
    }
}

/// The predicted-value model declared in `[prediction]`: BG/NBD and Gamma-Gamma, fitted to
/// `clv_inputs` and registered as tables `clv_fit` and `clv`.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    pub unit: Unit,
    /// How far ahead, in units.
    pub horizon: f64,
    /// A year, e.g. 0.1 for 10 %.
    pub discount_rate: f64,
    /// Fewer customers with a purchase than this: the model is off.
    pub min_customers: usize,
    /// Fewer customers with a repeat purchase than this: the model is off.
    pub min_repeat_buyers: usize,
    /// The `[scoring]` criterion that reads the model's figures, if one does: then a model that
    /// cannot be fitted fails the run instead of switching sections off.
    pub required_by: Option<String>,
}

/// The columns of `clv` a `[scoring]` criterion may use.
pub const PREDICTED_COLUMNS: &[&str] = &["predicted_clv", "predicted_revenue", "p_alive", "expected_purchases", "expected_aov"];

/// When an alert rule fires.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// The metric is below this value.
    Below(f64),
    /// The metric is above this value.
    Above(f64),
    /// The metric rose by more than this fraction against the baseline column.
    Rise { by: f64, baseline: String },
    /// The metric fell by more than this fraction against the baseline column.
    Fall { by: f64, baseline: String },
    /// The latest row (by `order_by`) is more than `k` standard deviations above the mean of the
    /// `over` rows before it.
    Spike { k: f64, over: usize, order_by: String },
}

/// How loud an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Critical,
    Warning,
    Info,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// An `[[alert]]` rule over a query's result.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRule {
    pub name: String,
    pub query: String,
    pub metric: String,
    /// Rows must have these column values.
    pub filter: Vec<(String, String)>,
    pub condition: Condition,
    /// The value must be at least this for the rule to fire (one ticket is no spike).
    pub at_least: Option<f64>,
    pub severity: Severity,
    /// A Handlebars message over value, baseline, segment, metric and the row's columns.
    pub message: String,
}

/// A table that must have recent rows for the report to go out.
#[derive(Debug, Clone, PartialEq)]
pub struct Freshness {
    pub table: String,
    pub max_age: chrono::Duration,
    /// As written, for messages (`36h`).
    pub written: String,
}

/// A tier's promised service.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceLevel {
    pub tier: String,
    pub promise: String,
    pub first_reply_hours: Option<f64>,
    pub resolution_hours: Option<f64>,
}

/// A job parameter's value, typed as TOML typed it.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    Int(i64),
    Float(f64),
    Text(String),
    Bool(bool),
    Date(chrono::NaiveDate),
}

/// A result attached to the email: `"exit_list"` (CSV) or `{ result = "exit_list", format = "xlsx" }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub result: String,
    pub format: AttachFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachFormat {
    /// Text a spreadsheet would run as a formula gets a leading `'`.
    Csv,
    /// A workbook of typed cells (numbers, dates, text) with a header row, frozen, and the
    /// result's column formats.
    Xlsx,
}

impl AttachFormat {
    pub fn extension(self) -> &'static str {
        match self {
            AttachFormat::Csv => "csv",
            AttachFormat::Xlsx => "xlsx",
        }
    }
}

/// `[burst]`: one report per row group of a query, each sent to its own addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Burst {
    /// The query that lists the groups: one row per group (rows sharing a key are one group).
    pub query: String,
    /// Its column holding the group's key, bound as `$burst_key` in the per-group queries.
    pub key: String,
    /// Its column holding the group's address(es), several separated by `,` or `;`.
    pub to: String,
    /// Its column holding the group's display name, if any.
    pub name: Option<String>,
    /// Send a group whose own queries returned no rows (`empty = "send"`); by default it is
    /// skipped (and recorded as such).
    pub send_empty: bool,
}

/// A checked job.
#[derive(Debug, Clone)]
pub struct Job {
    pub name: String,
    pub description: String,
    /// The file it came from, relative to the project root.
    pub file: PathBuf,
    pub schedule: String,
    pub cron: Cron,
    pub tz: chrono_tz::Tz,
    pub period: PeriodKind,
    pub lake: String,
    /// Where its SQL runs: `engine` in the job, else `[defaults] engine`; `PARETO_ENGINE` over both.
    pub engine: crate::cluster::Engine,
    pub queries: Vec<String>,
    pub template: String,
    pub subject: String,
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    pub bcc: Vec<Mailbox>,
    pub owners: Vec<Mailbox>,
    pub attach: Vec<Attachment>,
    /// Rows at most in an attached file (the archive keeps every row).
    pub attach_max_rows: usize,
    pub currency: String,
    pub params: BTreeMap<String, ParamValue>,
    pub scoring: Option<Scoring>,
    pub prediction: Option<Prediction>,
    /// In tier order (A, B, C, Exit) when a scoring model names the tiers.
    pub service_levels: Vec<ServiceLevel>,
    pub require_fresh: Vec<Freshness>,
    /// Another job whose `[scoring]`, `[service_levels]` and `[params]` this one shares (its own
    /// win), with the line it was named on.
    pub inherit: Option<(String, usize)>,
    /// Send only when an alert fired.
    pub send_if_alerts: bool,
    pub alerts: Vec<AlertRule>,
    /// How many missed periods `pareto serve` sends after it was down.
    pub catch_up: CatchUp,
    /// One report per group, each to its own addresses.
    pub burst: Option<Burst>,
}

/// How many periods that fell due while the daemon was down it still sends on start; older ones
/// are recorded as skipped and the owners told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CatchUp {
    /// Send none of them.
    None,
    /// Send the latest (the default).
    Latest,
    /// Send up to this many, the latest ones.
    Last(u32),
}

impl CatchUp {
    /// How many missed periods to send.
    pub fn keep(&self) -> usize {
        match self {
            CatchUp::None => 0,
            CatchUp::Latest => 1,
            CatchUp::Last(n) => *n as usize,
        }
    }
}

/// What a job is checked against: the query and template names the project has.
pub struct Known<'a> {
    pub queries: &'a BTreeSet<String>,
    pub templates: &'a BTreeSet<String>,
}

/// Parameter names the runner binds itself; a job's `params` may not reuse them.
pub const BUILTIN_PARAMS: &[&str] = &[
    "period_start",
    "period_end",
    "prev_period_start",
    "prev_period_end",
    "as_of",
    "period_start_date",
    "period_end_date",
    "prev_period_start_date",
    "as_of_date",
    "period_label",
    "period_months",
    "next_period_days",
    "prediction_unit_days",
    "prediction_horizon",
];

/// Parse and check one job file. `shown` is the path to print (relative to the project root).
pub fn load(path: &Path, shown: &Path, config: &Config, known: &Known) -> Result<Job, Vec<Problem>> {
    let text = std::fs::read_to_string(path).map_err(|e| vec![Problem::new(shown.to_path_buf(), format!("cannot read: {e}"))])?;
    from_text(&text, shown, config, known)
}

/// Parse and check the text of a job file shown as `shown`.
pub fn from_text(text: &str, shown: &Path, config: &Config, known: &Known) -> Result<Job, Vec<Problem>> {
    let raw: RawJob = toml::from_str(text).map_err(|e| vec![toml_problem(shown, text, &e)])?;
    check(raw, text, shown, config, known)
}

fn check(raw: RawJob, text: &str, shown: &Path, config: &Config, known: &Known) -> Result<Job, Vec<Problem>> {
    let mut problems = Vec::new();
    let at = |span: std::ops::Range<usize>, msg: String| Problem::new(shown.to_path_buf(), msg).at_offset(text, span.start);

    let name = raw.name.get_ref().clone();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        problems.push(at(
            raw.name.span(),
            format!("`name`: `{name}` may hold only letters, digits, `-` and `_` (it names the archive folder)"),
        ));
    }

    let schedule = raw.schedule.get_ref().clone();
    let cron = match <Cron as std::str::FromStr>::from_str(&schedule) {
        Ok(c) => Some(c),
        Err(e) => {
            problems.push(at(raw.schedule.span(), format!("`schedule`: `{schedule}` is not a cron expression ({e}); write e.g. `0 7 * * MON` (minute hour day-of-month month day-of-week)")));
            None
        }
    };

    let tz_text = raw.timezone.as_ref().map(|t| t.get_ref().clone()).or_else(|| config.timezone.clone()).unwrap_or_else(|| "UTC".into());
    let tz = match tz_text.parse::<chrono_tz::Tz>() {
        Ok(tz) => Some(tz),
        Err(_) => {
            let span = raw.timezone.as_ref().map(|t| t.span()).unwrap_or(0..0);
            problems.push(at(
                span,
                format!("`timezone`: `{tz_text}` is not an IANA time zone name such as `Europe/Amsterdam` or `America/New_York`"),
            ));
            None
        }
    };

    let lake = match (&config.lake_override, &raw.lake, &config.lake) {
        (Some(l), _, _) => l.clone(),
        (None, Some(l), _) => l.get_ref().clone(),
        (None, None, Some(l)) => l.clone(),
        (None, None, None) => {
            problems.push(Problem::new(
                shown.to_path_buf(),
                "no `lake`: set `lake = \"path/or/url\"` in the job or `[defaults] lake` in pareto.toml",
            ));
            String::new()
        }
    };

    // Whatever secret the lake URL carries is kept out of every log and record from here on.
    crate::secrets::register_url(&lake);

    let engine = match (&config.engine_override, &raw.engine) {
        (Some(e), _) => e.clone(),
        (None, Some(text)) => crate::cluster::Engine::parse(text.get_ref()).unwrap_or_else(|why| {
            problems.push(at(text.span(), format!("`engine`: {why}")));
            crate::cluster::Engine::Embedded
        }),
        (None, None) => config.engine.clone(),
    };

    let mut queries = Vec::new();
    if raw.queries.is_empty() {
        problems.push(Problem::new(shown.to_path_buf(), "`queries` is empty: name at least one file in queries/ (without `.sql`)"));
    }
    for q in &raw.queries {
        let n = q.get_ref().trim_end_matches(".sql").to_string();
        // The `[prediction]` model's tables can be listed like queries (the monthly review shows
        // the fit), in a job that declares or inherits the model.
        let model_table = [crate::model::prediction::FIT, crate::model::prediction::TABLE].contains(&n.as_str())
            && (raw.prediction.is_some() || raw.inherit.is_some());
        if !known.queries.contains(&n) && !model_table {
            problems.push(at(q.span(), format!("`queries`: there is no queries/{n}.sql{}", suggest(&n, known.queries))));
        } else if queries.contains(&n) {
            problems.push(at(q.span(), format!("`queries`: `{n}` is listed twice")));
        } else {
            queries.push(n);
        }
    }

    let template = raw.template.get_ref().trim_end_matches(".hbs").trim_end_matches(".html").to_string();
    if !known.templates.contains(&template) {
        problems.push(at(
            raw.template.span(),
            format!("`template`: there is no templates/{template}.html.hbs{}", suggest(&template, known.templates)),
        ));
    }

    let subject = raw.subject.get_ref().clone();
    if let Err(e) = handlebars::Template::compile(&subject) {
        problems.push(at(raw.subject.span(), format!("`subject` is not a valid Handlebars template: {}", e.reason())));
    }

    let mut addresses = |key: &str, list: &[Spanned<String>]| -> Vec<Mailbox> {
        list.iter()
            .filter_map(|a| match a.get_ref().parse::<Mailbox>() {
                Ok(m) => Some(m),
                Err(e) => {
                    problems.push(at(
                        a.span(),
                        format!(
                            "`{key}`: `{}` is not an email address ({e}); write `name@example.com` or `Name <name@example.com>`",
                            a.get_ref()
                        ),
                    ));
                    None
                }
            })
            .collect()
    };
    let to = addresses("to", &raw.to);
    let cc = addresses("cc", &raw.cc);
    let bcc = addresses("bcc", &raw.bcc);
    let owners = addresses("owners", &raw.owners);
    let burst = raw.burst.as_ref().and_then(|b| {
        let span = b.span();
        let b = b.get_ref();
        let query = b.query.get_ref().trim_end_matches(".sql").to_string();
        let mut ok = true;
        if !known.queries.contains(&query) {
            problems.push(at(b.query.span(), format!("`burst.query`: there is no queries/{query}.sql{}", suggest(&query, known.queries))));
            ok = false;
        }
        for (k, v) in [("key", Some(&b.key)), ("to", Some(&b.to)), ("name", b.name.as_ref())] {
            if v.is_some_and(|v| v.trim().is_empty()) {
                problems.push(at(span.clone(), format!("`burst.{k}`: name a column of `{query}`")));
                ok = false;
            }
        }
        let send_empty = match b.empty.as_ref().map(|e| e.get_ref().as_str()) {
            None | Some("skip") => false,
            Some("send") => true,
            Some(other) => {
                problems.push(at(b.empty.as_ref().map(|e| e.span()).unwrap_or(span.clone()), format!("`burst.empty`: `{other}` is not `skip` or `send`")));
                ok = false;
                false
            }
        };
        if !(raw.to.is_empty() && raw.cc.is_empty() && raw.bcc.is_empty()) {
            problems.push(at(
                span.clone(),
                format!(
                    "a job with `[burst]` sends each group's report to the addresses in `{query}.{}` only; remove `to`, `cc` and `bcc` (preview a group with `pareto run JOB --group KEY --to you@example.com`)",
                    b.to
                ),
            ));
            ok = false;
        }
        ok.then(|| Burst { query, key: b.key.clone(), to: b.to.clone(), name: b.name.clone(), send_empty })
    });
    if raw.burst.is_none() && raw.to.is_empty() && raw.cc.is_empty() && raw.bcc.is_empty() {
        problems.push(Problem::new(shown.to_path_buf(), "no recipients: set `to = [\"name@example.com\"]`"));
    }

    let mut attach = Vec::new();
    for a in &raw.attach {
        let (name, format) = match a.get_ref() {
            toml::Value::String(s) => (s.trim_end_matches(".csv").to_string(), AttachFormat::Csv),
            toml::Value::Table(t) => {
                let mut bad = false;
                for key in t.keys().filter(|k| !["result", "format"].contains(&k.as_str())) {
                    problems.push(at(
                        a.span(),
                        format!("`attach`: unknown key `{key}`; an entry is `{{ result = \"exit_list\", format = \"xlsx\" }}`"),
                    ));
                    bad = true;
                }
                let format = match t.get("format") {
                    None => AttachFormat::Csv,
                    Some(toml::Value::String(f)) if f == "csv" => AttachFormat::Csv,
                    Some(toml::Value::String(f)) if f == "xlsx" => AttachFormat::Xlsx,
                    Some(other) => {
                        problems.push(at(a.span(), format!("`attach`: format {other} is not one of \"csv\", \"xlsx\"")));
                        bad = true;
                        AttachFormat::Csv
                    }
                };
                match t.get("result") {
                    Some(toml::Value::String(r)) if !bad => (r.clone(), format),
                    Some(toml::Value::String(_)) => continue,
                    _ => {
                        problems.push(at(a.span(), "`attach`: name the result to attach, as `result = \"exit_list\"`".to_string()));
                        continue;
                    }
                }
            }
            other => {
                problems.push(at(
                    a.span(),
                    format!("`attach`: {other} is neither a result's name nor `{{ result = \"exit_list\", format = \"xlsx\" }}`"),
                ));
                continue;
            }
        };
        if !queries.contains(&name) && !raw.queries.is_empty() {
            problems.push(at(a.span(), format!("`attach`: `{name}` is not one of this job's `queries`")));
        } else {
            attach.push(Attachment { result: name, format });
        }
    }

    let mut params = BTreeMap::new();
    for (k, v) in &raw.params {
        if BUILTIN_PARAMS.contains(&k.as_str()) {
            problems.push(at(v.span(), format!("`params.{k}`: `${k}` is set by the runner; pick another name")));
            continue;
        }
        if !is_identifier(k) {
            problems.push(at(v.span(), format!("`params.{k}`: a parameter name may hold only lowercase letters, digits and `_`")));
            continue;
        }
        let value = match v.get_ref() {
            toml::Value::Integer(i) => ParamValue::Int(*i),
            toml::Value::Float(f) => ParamValue::Float(*f),
            toml::Value::String(s) => ParamValue::Text(s.clone()),
            toml::Value::Boolean(b) => ParamValue::Bool(*b),
            toml::Value::Datetime(d) if d.time.is_none() && d.date.is_some() => {
                let dd = d.date.unwrap();
                match chrono::NaiveDate::from_ymd_opt(dd.year as i32, dd.month as u32, dd.day as u32) {
                    Some(date) => ParamValue::Date(date),
                    None => {
                        problems.push(at(v.span(), format!("`params.{k}`: `{d}` is not a date")));
                        continue;
                    }
                }
            }
            other => {
                problems.push(at(
                    v.span(),
                    format!("`params.{k}`: a {} cannot be a query parameter; use a number, string, boolean or date", other.type_str()),
                ));
                continue;
            }
        };
        params.insert(k.clone(), value);
    }

    let mut scoring = raw.scoring.as_ref().and_then(|sc| check_scoring(sc, &at, &mut problems));
    let mut prediction = raw.prediction.as_ref().and_then(|p| check_prediction(p, &at, &mut problems));
    if let Some(s) = scoring.as_mut() {
        for c in &s.criteria {
            let Some(col) = PREDICTED_COLUMNS.iter().find(|col| crate::query::mentions(&c.expr, col)) else { continue };
            s.predicted = true;
            match prediction.as_mut() {
                Some(p) => {
                    p.required_by.get_or_insert_with(|| c.name.clone());
                }
                None if raw.inherit.is_none() => {
                    let span = raw.scoring.as_ref().map(|sc| sc.span()).unwrap_or(0..0);
                    problems.push(at(
                        span,
                        format!(
                            "criterion `{}`: `{col}` comes from the `[prediction]` model; declare `[prediction]` in the job file (see the README's \"Predicted value\")",
                            c.name
                        ),
                    ));
                }
                None => {}
            }
        }
    }
    let tier_order: Vec<String> =
        scoring.as_ref().map(|s| s.tiers.iter().cloned().chain(["Exit".to_string()]).collect()).unwrap_or_default();
    let mut service_levels = Vec::new();
    for (tier, sl) in &raw.service_levels {
        if !tier_order.is_empty() && !tier_order.contains(tier) {
            problems
                .push(at(sl.span(), format!("`service_levels.{tier}`: `{tier}` is not a tier of `[scoring]` ({})", tier_order.join(", "))));
            continue;
        }
        let sl = sl.get_ref();
        for (key, v) in [("first_reply_hours", sl.first_reply_hours), ("resolution_hours", sl.resolution_hours)] {
            if v.is_some_and(|h| !(h > 0.0)) {
                problems.push(Problem::new(shown.to_path_buf(), format!("`service_levels.{tier}.{key}` must be more than 0 hours")));
            }
        }
        service_levels.push(ServiceLevel {
            tier: tier.clone(),
            promise: sl.promise.clone(),
            first_reply_hours: sl.first_reply_hours,
            resolution_hours: sl.resolution_hours,
        });
    }
    service_levels.sort_by_key(|s| tier_order.iter().position(|t| *t == s.tier).unwrap_or(usize::MAX));

    let mut require_fresh = Vec::new();
    for (table, age) in &raw.require_fresh {
        if crate::contract::time_column(table).is_none() {
            problems.push(at(
                age.span(),
                format!(
                    "`require_fresh.{table}`: pareto knows the time column of the contract tables only ({})",
                    crate::contract::TABLE_NAMES.join(", ")
                ),
            ));
            continue;
        }
        match parse_age(age.get_ref()) {
            Some(max_age) => require_fresh.push(Freshness { table: table.clone(), max_age, written: age.get_ref().clone() }),
            None => problems.push(at(
                age.span(),
                format!("`require_fresh.{table}`: `{}` is not an age such as `36h`, `2d` or `90m` (at most ten years)", age.get_ref()),
            )),
        }
    }
    let send_if_alerts = match raw.send_if.as_ref().map(|s| s.get_ref().as_str()) {
        None | Some("always") => false,
        Some("alerts") => true,
        Some(other) => {
            let span = raw.send_if.as_ref().map(|s| s.span()).unwrap_or(0..0);
            problems.push(at(span, format!("`send_if`: `{other}` is not `always` or `alerts`")));
            false
        }
    };
    let mut alerts = Vec::new();
    for a in &raw.alert {
        if let Some(rule) = check_alert(a, &queries, &at, &mut problems) {
            alerts.push(rule);
        }
    }
    if send_if_alerts && alerts.is_empty() && raw.send_if.is_some() {
        let span = raw.send_if.as_ref().map(|s| s.span()).unwrap_or(0..0);
        problems.push(at(span, "`send_if = \"alerts\"` but the job has no `[[alert]]` rules, so it would never send".to_string()));
    }

    if !problems.is_empty() {
        return Err(problems);
    }
    let inherit = raw.inherit.as_ref().map(|i| (i.get_ref().clone(), crate::problem::line_col(text, i.span().start).0));
    let catch_up = match &raw.catch_up {
        None => CatchUp::Latest,
        Some(v) => match v.get_ref() {
            toml::Value::String(s) if s == "none" => CatchUp::None,
            toml::Value::String(s) if s == "latest" => CatchUp::Latest,
            toml::Value::Integer(n) if (0..=10_000).contains(n) => {
                if *n == 0 {
                    CatchUp::None
                } else {
                    CatchUp::Last(*n as u32)
                }
            }
            other => {
                problems.push(at(v.span(), format!("`catch_up`: `{other}` is not `none`, `latest` or a number of periods such as `3`")));
                CatchUp::Latest
            }
        },
    };
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Job {
        burst,
        catch_up,
        attach_max_rows: raw.attach_max_rows.unwrap_or(10_000),
        inherit,
        require_fresh,
        send_if_alerts,
        alerts,
        scoring,
        prediction,
        service_levels,
        name,
        description: raw.description,
        file: shown.to_path_buf(),
        schedule,
        cron: cron.expect("checked"),
        tz: tz.expect("checked"),
        period: raw.period,
        lake,
        engine,
        queries,
        template,
        subject,
        to,
        cc,
        bcc,
        owners,
        attach,
        currency: raw.currency.unwrap_or_else(|| config.currency.clone()),
        params,
    })
}

/// `36h`, `2d`, `90m` as a duration.
pub fn parse_age(text: &str) -> Option<chrono::Duration> {
    let t = text.trim();
    let (num, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit())?);
    let n: i64 = num.parse().ok()?;
    // At most ten years: an age beyond that is a typo, and beyond chrono's range it would panic.
    let age = match unit.trim() {
        "m" | "min" => chrono::Duration::try_minutes(n),
        "h" => chrono::Duration::try_hours(n),
        "d" => chrono::Duration::try_days(n),
        _ => None,
    }?;
    (age <= chrono::Duration::days(3653)).then_some(age)
}

/// `25%` (or `0.25`) as a fraction.
fn parse_fraction(text: &str) -> Option<f64> {
    let t = text.trim();
    match t.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().ok().map(|p| p / 100.0),
        None => t.parse().ok(),
    }
    .filter(|f: &f64| *f >= 0.0 && f.is_finite())
}

/// Check one `[[alert]]`, adding every problem to `problems`.
fn check_alert(
    a: &Spanned<RawAlert>,
    queries: &[String],
    at: &dyn Fn(std::ops::Range<usize>, String) -> Problem,
    problems: &mut Vec<Problem>,
) -> Option<AlertRule> {
    let before = problems.len();
    let span = a.span();
    let raw = a.get_ref();
    let name = raw.name.clone().unwrap_or_else(|| format!("{}.{}", raw.query, raw.metric));
    let mut bad = |m: String| problems.push(at(span.clone(), format!("alert `{name}`: {m}")));
    if !queries.contains(&raw.query) {
        bad(format!("`query = \"{}\"` is not one of this job's `queries`", raw.query));
    }
    let kinds = [raw.below.is_some(), raw.above.is_some(), raw.rise.is_some(), raw.fall.is_some(), raw.spike.is_some()];
    if kinds.iter().filter(|k| **k).count() != 1 {
        bad("give exactly one of `below`, `above` (a threshold), `rise`, `fall` (a change against the previous period) or `spike` (against the trailing periods)".into());
    }
    let baseline = raw.baseline.clone().unwrap_or_else(|| format!("prev_{}", raw.metric));
    let mut fraction = |text: &str, key: &str| -> f64 {
        parse_fraction(text).unwrap_or_else(|| {
            bad(format!("`{key} = \"{text}\"` is not a percentage such as `25%`"));
            0.0
        })
    };
    let condition = if let Some(v) = raw.below {
        Condition::Below(v)
    } else if let Some(v) = raw.above {
        Condition::Above(v)
    } else if let Some(r) = &raw.rise {
        Condition::Rise { by: fraction(r, "rise"), baseline: baseline.clone() }
    } else if let Some(f) = &raw.fall {
        Condition::Fall { by: fraction(f, "fall"), baseline: baseline.clone() }
    } else {
        let k = raw.spike.unwrap_or(2.0);
        let over = raw.over.unwrap_or(8);
        let order_by = raw.order_by.clone().unwrap_or_else(|| "week".into());
        if over < 2 {
            bad("`over` must be at least 2 periods to have a spread".into());
        }
        Condition::Spike { k, over, order_by }
    };
    let severity = match raw.severity.as_deref().unwrap_or("warning") {
        "critical" => Severity::Critical,
        "warning" => Severity::Warning,
        "info" => Severity::Info,
        other => {
            bad(format!("`severity = \"{other}\"` is not `critical`, `warning` or `info`"));
            Severity::Warning
        }
    };
    let message = raw.message.clone().unwrap_or_else(|| "{{metric}} for {{segment}} is {{value}} (baseline {{baseline}})".into());
    if let Err(e) = handlebars::Template::compile(&message) {
        bad(format!("`message` is not a valid Handlebars template: {}", e.reason()));
    }
    let filter = raw
        .filter
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                match v {
                    toml::Value::String(s) => s.clone(),
                    other => other.to_string(),
                },
            )
        })
        .collect();
    (problems.len() == before).then_some(AlertRule {
        name,
        query: raw.query.clone(),
        metric: raw.metric.clone(),
        filter,
        condition,
        at_least: raw.at_least,
        severity,
        message,
    })
}

/// Check `[scoring]`, adding every problem to `problems`.
fn check_scoring(
    sc: &Spanned<RawScoring>,
    at: &dyn Fn(std::ops::Range<usize>, String) -> Problem,
    problems: &mut Vec<Problem>,
) -> Option<Scoring> {
    let before = problems.len();
    let span = sc.span();
    let raw = sc.get_ref();
    let mut bad = |m: String| problems.push(at(span.clone(), m));
    let tiers = raw.tiers.clone().unwrap_or_else(|| vec!["A".into(), "B".into(), "C".into()]);
    if tiers.is_empty() {
        bad("`scoring.tiers` is empty: name at least one tier, e.g. [\"A\", \"B\", \"C\"]".into());
    }
    let mut seen = BTreeSet::new();
    for t in &tiers {
        if t == "Exit" {
            bad("`scoring.tiers`: `Exit` is added by the model itself (customers scoring lowest on every criterion); leave it out".into());
        } else if t.is_empty() || t.contains('\'') {
            bad(format!("`scoring.tiers`: `{t}` cannot name a tier"));
        } else if !seen.insert(t.clone()) {
            bad(format!("`scoring.tiers`: `{t}` is listed twice"));
        }
    }
    if raw.criteria.is_empty() {
        bad("`[scoring]` has no criteria: add `[[scoring.criteria]]` tables with name, expr and quantiles or thresholds".into());
    }
    let mut criteria = Vec::new();
    let mut names = BTreeSet::new();
    for c in &raw.criteria {
        let cspan = c.span();
        let c = c.get_ref();
        let mut cbad = |m: String| problems.push(at(cspan.clone(), format!("criterion `{}`: {m}", c.name)));
        if !is_identifier(&c.name) {
            cbad("a name may hold only lowercase letters, digits and `_` (it names result columns)".into());
        } else if ["id", "total", "tier", "reason", "ranked_tier"].contains(&c.name.as_str()) || !names.insert(c.name.clone()) {
            cbad("the name is already used; pick another".into());
        }
        if c.expr.trim().is_empty() {
            cbad("`expr` is empty: give a SQL expression, such as `revenue_12m`".into());
        }
        let weight = c.weight.unwrap_or(1.0);
        if !(weight > 0.0) {
            cbad(format!("`weight` must be more than 0 (it is {weight})"));
        }
        let bands = match (c.quantiles, &c.thresholds) {
            (Some(k), None) if k == 3 || k == 4 => Some(Bands::Quantiles(k)),
            (Some(k), None) => {
                cbad(format!("`quantiles = {k}`: use 3 or 4 categories"));
                None
            }
            (None, Some(t)) if (t.len() == 2 || t.len() == 3) && t.windows(2).all(|w| w[0] < w[1]) => Some(Bands::Thresholds(t.clone())),
            (None, Some(_)) => {
                cbad("`thresholds` must be 2 or 3 ascending numbers (3 or 4 categories)".into());
                None
            }
            (Some(_), Some(_)) => {
                cbad("give `quantiles` or `thresholds`, not both".into());
                None
            }
            (None, None) => {
                cbad("give `quantiles = 4` or `thresholds = [a, b, c]` to map the value to categories".into());
                None
            }
        };
        if let Some(bands) = bands {
            criteria.push(Criterion { name: c.name.clone(), expr: c.expr.clone(), weight, bands, lower_is_better: c.lower_is_better });
        }
    }
    let mut bad = |m: String| problems.push(at(span.clone(), m));
    if !raw.criteria.is_empty() && raw.exit_tolerance >= raw.criteria.len() {
        bad(format!(
            "`scoring.exit_tolerance = {}` must be less than the number of criteria ({}); 0 puts in Exit only those lowest on every criterion",
            raw.exit_tolerance,
            raw.criteria.len()
        ));
    }
    let mut min_each = BTreeMap::new();
    for (tier, r) in &raw.refine {
        if !tiers.contains(tier) {
            bad(format!("`scoring.refine.{tier}`: `{tier}` is not one of the tiers ({})", tiers.join(", ")));
        } else if !(1..=4).contains(&r.min_each) {
            bad(format!("`scoring.refine.{tier}.min_each = {}`: a category is 1 to 4", r.min_each));
        } else {
            min_each.insert(tier.clone(), r.min_each);
        }
    }
    let mut pins = Vec::new();
    for (id, tier) in &raw.pin {
        if !tiers.contains(tier) && tier != "Exit" {
            bad(format!("`scoring.pin`: `{id} = \"{tier}\"` names no tier ({}, Exit)", tiers.join(", ")));
        } else if raw.per.is_none() && id.parse::<i64>().is_err() {
            bad(format!("`scoring.pin`: `{id}` is not a customer id"));
        } else {
            pins.push((id.clone(), tier.clone()));
        }
    }
    if let Some(per) = &raw.per
        && !is_identifier(per)
    {
        bad(format!("`scoring.per`: `{per}` is not a column name"));
    }
    let source = raw.source.clone().unwrap_or_else(|| "customer_facts".into());
    if !is_identifier(&source) {
        bad(format!("`scoring.source`: `{source}` is not a table or query name"));
    }
    (problems.len() == before).then(|| Scoring {
        source,
        per: raw.per.clone().filter(|p| p != "customer_id"),
        tiers,
        exit_tolerance: raw.exit_tolerance,
        min_each,
        pins,
        criteria,
        predicted: false,
    })
}

/// Check `[prediction]`, adding every problem to `problems`.
fn check_prediction(
    p: &Spanned<RawPrediction>,
    at: &dyn Fn(std::ops::Range<usize>, String) -> Problem,
    problems: &mut Vec<Problem>,
) -> Option<Prediction> {
    let before = problems.len();
    let span = p.span();
    let raw = p.get_ref();
    let mut bad = |m: String| problems.push(at(span.clone(), m));
    let unit = match raw.unit.as_deref() {
        None | Some("week") => Unit::Week,
        Some("day") => Unit::Day,
        Some("month") => Unit::Month,
        Some(other) => {
            bad(format!("`prediction.unit`: `{other}` is not `day`, `week` or `month`"));
            Unit::Week
        }
    };
    let horizon = raw.horizon.unwrap_or(match unit {
        Unit::Day => 365.0,
        Unit::Week => 52.0,
        Unit::Month => 12.0,
    });
    if !(horizon > 0.0 && horizon * unit.days() <= 3653.0) {
        bad(format!("`prediction.horizon = {horizon}`: give the number of {}s to predict, more than 0 and at most ten years", unit.name()));
    }
    let discount_rate = raw.discount_rate.unwrap_or(0.1);
    if !(0.0..1.0).contains(&discount_rate) {
        bad(format!("`prediction.discount_rate = {discount_rate}`: a yearly rate from 0 to below 1, such as 0.1 for 10 %"));
    }
    let min_customers = raw.min_customers.unwrap_or(500);
    let min_repeat_buyers = raw.min_repeat_buyers.unwrap_or(100);
    if min_customers < 10 || min_repeat_buyers < 10 {
        bad("`prediction.min_customers` and `prediction.min_repeat_buyers` must be at least 10: fewer customers cannot support a fit"
            .into());
    }
    (problems.len() == before).then_some(Prediction { unit, horizon, discount_rate, min_customers, min_repeat_buyers, required_by: None })
}

/// Lowercase letters, digits and `_`, not starting with a digit: a name SQL can use unquoted.
pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// ", did you mean `x`?" when a known name is close to `name`.
pub fn suggest(name: &str, known: &BTreeSet<String>) -> String {
    let best = known.iter().map(|k| (edit_distance(name, k), k)).filter(|(d, _)| *d <= 3).min();
    match best {
        Some((_, k)) => format!("; did you mean `{k}`?"),
        None if known.is_empty() => String::new(),
        None => format!(" (there are: {})", known.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")),
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            cur.push((prev[j] + usize::from(ca != *cb)).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_the_closest_name() {
        let known: BTreeSet<String> = ["headline", "top_customers"].iter().map(|s| s.to_string()).collect();
        assert_eq!(suggest("headlin", &known), "; did you mean `headline`?");
        assert_eq!(suggest("zzzzzzzzzz", &known), " (there are: `headline`, `top_customers`)");
    }

    #[test]
    fn identifiers_are_lowercase_sql_names() {
        assert!(is_identifier("top_customers"));
        assert!(!is_identifier("Top"));
        assert!(!is_identifier("9lives"));
        assert!(!is_identifier("a-b"));
    }
}

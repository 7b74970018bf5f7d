//! The data-health gate (`require_fresh`): each named table's newest row must be recent enough
//! against the run's as-of time, or the report is held. Compiled to one `MAX(time column)` query
//! per table.

use crate::problem::Problem;
use crate::spec::job::Freshness;
use chrono::{DateTime, NaiveDate, Utc};
use datafusion::execution::context::SessionContext;

/// A table too old (or missing) for the report to go out.
#[derive(Debug, Clone)]
pub struct Stale {
    pub table: String,
    /// Its newest row's time; `None` when the table is empty or missing.
    pub newest: Option<DateTime<Utc>>,
    pub rule: Freshness,
}

impl Stale {
    /// One line for people: what is stale and by how much.
    pub fn describe(&self, as_of: DateTime<Utc>) -> String {
        match self.newest {
            Some(t) => {
                let age = as_of - t;
                format!(
                    "table `{}` is stale: its newest row is from {} ({} hours before the run; the job allows {})",
                    self.table,
                    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    age.num_hours(),
                    self.rule.written
                )
            }
            None => format!("table `{}` has no rows (the job requires rows newer than {})", self.table, self.rule.written),
        }
    }
}

/// Check every rule against the session's tables; returns the stale ones.
pub async fn check(ctx: &SessionContext, rules: &[Freshness], as_of: DateTime<Utc>) -> Result<Vec<Stale>, Problem> {
    let mut stale = Vec::new();
    for rule in rules {
        let column = crate::contract::time_column(&rule.table).expect("checked when the job was loaded");
        let newest = match ctx.table_provider(rule.table.as_str()).await {
            Err(_) => None,
            Ok(_) => {
                // Only rows up to the as-of time count: a rerun for an earlier date sees that day's data.
                let sql = format!("SELECT MAX({column}) AS newest FROM \"{}\" WHERE {column} <= $as_of", rule.table);
                let q = crate::project::QueryFile::new("freshness", format!("require_fresh.{}", rule.table), sql);
                let params = std::collections::BTreeMap::from([(
                    "as_of".to_string(),
                    datafusion::common::ScalarValue::TimestampMicrosecond(Some(as_of.timestamp_micros()), Some("UTC".into())),
                )]);
                let plan = crate::query::plan(ctx, &q, &params).await?;
                let batches = ctx
                    .execute_logical_plan(plan)
                    .await
                    .map_err(|e| crate::query::sql_problem(&q, &e))?
                    .collect()
                    .await
                    .map_err(|e| crate::query::execution_problem(ctx, &q, &e))?;
                crate::results::rows(&batches).first().and_then(|r| r["newest"].as_str().map(str::to_string)).and_then(|s| parse(&s))
            }
        };
        let fresh = newest.is_some_and(|t| as_of - t <= rule.max_age);
        if !fresh {
            stale.push(Stale { table: rule.table.clone(), newest, rule: rule.clone() });
        }
    }
    Ok(stale)
}

fn parse(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&Utc))
        .ok()
        .or_else(|| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok().map(|d| d.and_hms_opt(0, 0, 0).unwrap().and_utc()))
        .or_else(|| chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").ok().map(|d| d.and_utc()))
}

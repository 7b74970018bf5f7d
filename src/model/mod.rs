//! Declarative models from the job file, compiled to SQL (value tiers) or to tables (service
//! levels) that the job's queries read like any other.

pub mod freshness;
pub mod scoring;
pub mod service_levels;

use crate::project::QueryFile;
use crate::spec::job::Job;
use std::collections::BTreeMap;

/// The queries a job's models add: `value_tiers` from `[scoring]`, over `value_tiers_scores`.
pub fn queries(job: &Job) -> BTreeMap<String, QueryFile> {
    let mut out = BTreeMap::new();
    if let Some(s) = &job.scoring {
        let file = format!("{} [scoring]", job.file.display());
        out.insert(scoring::SCORES.to_string(), QueryFile::new(scoring::SCORES, file.clone(), scoring::scores_sql(s)));
        out.insert(scoring::TABLE.to_string(), QueryFile::new(scoring::TABLE, file, scoring::sql(s)));
    }
    out
}

//! Declarative models from the job file, compiled to SQL (value tiers) or to tables (service
//! levels) that the job's queries read like any other.

pub mod freshness;
pub mod prediction;
pub mod scoring;
pub mod service_levels;

use crate::project::QueryFile;
use crate::spec::job::Job;
use std::collections::BTreeMap;

/// The queries a job's models add: `value_tiers` from `[scoring]`, over `value_tiers_scores`;
/// `clv_fit` and `clv` from `[prediction]`, over `clv_inputs`.
pub fn queries(job: &Job) -> BTreeMap<String, QueryFile> {
    let mut out = BTreeMap::new();
    if let Some(s) = &job.scoring {
        let file = format!("{} [scoring]", job.file.display());
        out.insert(scoring::SCORES.to_string(), QueryFile::new(scoring::SCORES, file.clone(), scoring::scores_sql(s)));
        out.insert(scoring::TABLE.to_string(), QueryFile::new(scoring::TABLE, file, scoring::sql(s)));
    }
    if let Some(p) = &job.prediction {
        let file = format!("{} [prediction]", job.file.display());
        let mut fit = QueryFile::new(prediction::FIT, file.clone(), prediction::fit_sql());
        fit.compute = Some(prediction::Node::Fit(p.clone()));
        let mut score = QueryFile::new(prediction::TABLE, file.clone(), prediction::score_sql());
        score.compute = Some(prediction::Node::Score(p.clone()));
        let mut prev = QueryFile::new(format!("{}__prev", prediction::TABLE), file, prediction::score_prev_sql());
        prev.compute = Some(prediction::Node::Score(p.clone()));
        out.insert(prev.name.clone(), prev);
        out.insert(prediction::FIT.to_string(), fit);
        out.insert(prediction::TABLE.to_string(), score);
    }
    out
}

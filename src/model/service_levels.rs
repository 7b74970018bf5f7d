//! `[service_levels]` as the table `service_levels` (tier, position, promise, first_reply_hours,
//! resolution_hours), so queries and templates read the promise beside the figures.

use crate::spec::job::ServiceLevel;
use datafusion::arrow::array::{ArrayRef, Float64Array, Int64Array, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use std::sync::Arc;

/// The table's name.
pub const TABLE: &str = "service_levels";

/// The job's service levels as one batch, in tier order (empty when none are declared).
pub fn batch(levels: &[ServiceLevel]) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("tier", DataType::Utf8, false),
        Field::new("position", DataType::Int64, false),
        Field::new("promise", DataType::Utf8, false),
        Field::new("first_reply_hours", DataType::Float64, true),
        Field::new("resolution_hours", DataType::Float64, true),
    ]));
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(levels.iter().map(|l| l.tier.as_str()))),
        Arc::new(Int64Array::from_iter_values((1..=levels.len() as i64).collect::<Vec<_>>())),
        Arc::new(StringArray::from_iter_values(levels.iter().map(|l| l.promise.as_str()))),
        Arc::new(Float64Array::from(levels.iter().map(|l| l.first_reply_hours).collect::<Vec<_>>())),
        Arc::new(Float64Array::from(levels.iter().map(|l| l.resolution_hours).collect::<Vec<_>>())),
    ];
    RecordBatch::try_new(schema, cols).expect("service levels batch")
}

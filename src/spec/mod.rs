//! Raw TOML types for `pareto.toml` and `jobs/*.toml`, and the checks that turn them into types
//! later stages can trust.

pub mod config;
pub mod job;

use crate::problem::Problem;
use std::path::Path;

/// Turn a TOML parse error into a problem pinned to the file, line and column.
pub(crate) fn toml_problem(shown: &Path, text: &str, err: &toml::de::Error) -> Problem {
    let message = err.message().trim().to_string();
    let p = Problem::new(shown.to_path_buf(), message);
    match err.span() {
        Some(span) => p.at_offset(text, span.start),
        None => p,
    }
}

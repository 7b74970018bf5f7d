//! pareto: scheduled reports from a Parquet lake. A job reads tables with DataFusion SQL, renders
//! an HTML and text report with Handlebars, archives it and emails it.

pub mod alerts;
pub mod archive;
pub mod burst;
pub mod clock;
pub mod cluster;
pub mod contract;
pub mod deliver;
pub mod exit;
pub mod functions;
pub mod lake;
pub mod ledger;
pub mod model;
pub mod notify;
pub mod period;
pub mod pipeline;
pub mod problem;
pub mod progress;
pub mod project;
pub mod query;
pub mod render;
pub mod results;
pub mod runner;
pub mod sample;
pub mod schedule;
pub mod secrets;
pub mod serve;
pub mod spec;
pub mod status;

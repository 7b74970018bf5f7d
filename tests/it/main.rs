//! Integration tests: one binary (DataFusion makes each extra test binary slow to link).

mod bad_input;
mod burst;
mod cdnow;
mod check;
mod cli;
mod cluster;
mod daemon;
mod email;
mod fuzz;
mod hardening;
mod model;
mod prediction;
mod s3;
mod scale;
mod service;
mod support;
mod value;

//! Exit codes, in one place (the README lists them).

/// The report was sent (or written, for `--dry-run`), or the command did what it was asked.
pub const OK: u8 = 0;
/// A job failed: the lake, a query or a template; nothing was sent.
pub const JOB_FAILED: u8 = 1;
/// Bad usage or configuration: a job file, `pareto.toml`, arguments, or `check` found problems.
pub const USAGE: u8 = 2;
/// Held by a data-health gate (stale data); the owners were told instead.
pub const HELD: u8 = 3;
/// The report was built and archived but the mail server did not take it.
pub const DELIVERY_FAILED: u8 = 4;
/// Another process holds the lock: a second `pareto serve` on the same state folder, or a
/// `pareto run` of a job that is running elsewhere right now.
pub const BUSY: u8 = 5;

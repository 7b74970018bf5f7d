//! The run folder `<archive>/<job>/<period>/`: the report, the message, each result as JSON and
//! CSV, and `run.json`. Every file is written atomically (temp file, fsync, rename).

use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Write `bytes` to `path` so that a reader sees the old file or the new one, never half of one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomic_with(path, |w| w.write_all(bytes))
}

/// Like [`write_atomic`], with the content streamed by `fill` into a buffered writer.
pub fn write_atomic_with(
    path: &Path,
    fill: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut w = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
        fill(&mut w)?;
        let f = w.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// The folder for one job's period.
pub fn run_dir(archive: &Path, job: &str, period_label: &str) -> PathBuf {
    archive.join(job).join(period_label)
}

/// One query's line in `run.json`.
#[derive(Debug, Clone, Serialize)]
pub struct QueryRecord {
    pub name: String,
    pub file: String,
    pub rows: usize,
    pub millis: u128,
}

/// One recipient's line in `run.json`.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryRecord {
    pub recipient: String,
    /// `sent`, `rejected`, `unknown` or `pending` (not delivered, may be retried).
    pub state: String,
    pub reply: String,
}

impl From<&crate::deliver::smtp::Outcome> for DeliveryRecord {
    fn from(o: &crate::deliver::smtp::Outcome) -> Self {
        use crate::deliver::smtp::Attempt;
        let state = match &o.attempt {
            Attempt::Sent(_) => "sent",
            Attempt::Rejected(_) => "rejected",
            Attempt::Unknown(_) => "unknown",
            Attempt::Retry(_) | Attempt::Fatal(_) => "pending",
        };
        DeliveryRecord { recipient: o.recipient.to_string(), state: state.into(), reply: crate::deliver::smtp::describe(&o.attempt) }
    }
}

/// `run.json`: what a run did and how it ended.
#[derive(Debug, Clone, Serialize)]
pub struct RunRecord {
    pub job: String,
    pub period: String,
    pub period_start: String,
    pub period_end: String,
    pub as_of: String,
    pub started_at: String,
    pub finished_at: String,
    /// `sent`, `dry-run`, `no-alerts`, `held`, `failed`, `delivery-unknown`.
    pub outcome: String,
    pub error: Option<String>,
    pub queries: Vec<QueryRecord>,
    pub recipients: Vec<String>,
    pub message_id: Option<String>,
    pub subject: Option<String>,
    pub smtp_reply: Option<String>,
    /// How each recipient's delivery ended.
    pub deliveries: Vec<DeliveryRecord>,
    /// Alerts that fired, as `name (severity): message`.
    pub alerts: Vec<String>,
    /// For a held run: what became of the notice to the owners.
    pub notice: Option<String>,
}

impl RunRecord {
    /// Write the record as `dir/name` (`run.json`, or `run-failed.json` beside a sent one).
    pub fn write(&self, dir: &Path, name: &str) -> std::io::Result<()> {
        let json = serde_json::to_vec_pretty(self).expect("run record serialises");
        write_atomic(&dir.join(name), &json)
    }
}

/// Whether the run folder records a sent report.
pub fn was_sent(dir: &Path) -> bool {
    std::fs::read(dir.join("run.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .is_some_and(|v| v["outcome"] == "sent")
}

/// Remove the results of an earlier run of the same period, so the folder holds one run's.
pub fn clear_results(dir: &Path) -> std::io::Result<()> {
    match std::fs::read_dir(dir.join("results")) {
        Ok(entries) => {
            for e in entries {
                let e = e?;
                if e.file_type()?.is_file() {
                    std::fs::remove_file(e.path())?;
                }
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a/b/report.html");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(p.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("report.html")]);
    }
}

//! The run folder `<archive>/<job>/<period>/`: the report, the message, every result as Parquet
//! (the template's as JSON too, attachments as CSV), and `run.json`. A run builds its folder in a
//! staging folder beside it and swaps it in whole, so a failed run never leaves half its files
//! among the previous run's; single files are written atomically (temp file, fsync, rename).

use serde::Serialize;
use std::collections::BTreeMap;
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
    remove_stale_temps(dir);
    let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut w = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
        fill(&mut w)?;
        let f = w.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        sync_dir(dir);
        Ok(())
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

/// The memory (MiB) each query took in the job's most recent archived run (its own periods and
/// previews alike): the most it held while running plus the result it left, for scheduling the
/// next run; `None` when there is none or it cannot be read.
pub fn last_memory(archive: &Path, job: &str) -> Option<BTreeMap<String, f64>> {
    let entries = std::fs::read_dir(archive.join(job)).ok()?;
    let newest = entries
        .filter_map(|e| e.ok())
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| e.path().join("run.json"))
        .filter_map(|p| Some((p.metadata().ok()?.modified().ok()?, p)))
        .max();
    let (_, path) = newest?;
    let record = serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(&path).ok()?).ok()?;
    Some(
        record["queries"]
            .as_array()?
            .iter()
            .filter_map(|q| Some((q["name"].as_str()?.to_string(), q["peak_mib"].as_f64()? + q["result_mib"].as_f64().unwrap_or(0.0))))
            .collect(),
    )
}

/// One query's line in `run.json`.
#[derive(Debug, Clone, Serialize)]
pub struct QueryRecord {
    pub name: String,
    pub file: String,
    pub rows: usize,
    /// When it started, in milliseconds after the run's first query started (with `millis`, a
    /// timeline of which queries ran side by side).
    pub started_ms: u128,
    pub millis: u128,
    /// The most memory the query's operators held at once (MiB).
    pub peak_mib: f64,
    /// The result's size in memory (MiB).
    pub result_mib: f64,
    /// What its operators spilled to disk under `[lake] memory_limit` (MiB).
    pub spilled_mib: f64,
    /// Why the result is off (a model the data could not support, or a query that needs one).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub off: Option<String>,
}

/// One recipient's line in `run.json`.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryRecord {
    /// The group whose report it is (a bursting job).
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub group: String,
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
        DeliveryRecord {
            group: String::new(),
            recipient: o.recipient.to_string(),
            state: state.into(),
            reply: crate::deliver::smtp::describe(&o.attempt),
        }
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
    /// Where its SQL ran: `embedded`, or the cluster's `ballista://host:port`.
    pub engine: String,
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
    /// A bursting job's groups: each one's report, recipients, and why it was not sent.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub groups: Vec<GroupRecord>,
    /// How long rendering the report took, and what it made (the last report, for a bursting job).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub render: Option<RenderRecord>,
}

/// Rendering in `run.json`: the templates and every chart, drawn and rasterised.
#[derive(Debug, Clone, Serialize)]
pub struct RenderRecord {
    pub millis: u128,
    pub charts: usize,
    /// The PNGs' bytes, together.
    pub chart_bytes: usize,
    /// The HTML part's bytes (Gmail clips past about 102 KB).
    pub html_bytes: usize,
}

/// One group of a bursting job in `run.json`.
#[derive(Debug, Clone, Serialize)]
pub struct GroupRecord {
    pub key: String,
    pub name: Option<String>,
    /// Its folder in the run folder.
    pub folder: String,
    pub recipients: Vec<String>,
    pub subject: String,
    pub message_id: Option<String>,
    /// Why it was not sent (no rows, no alert, no address), if it was not.
    pub not_sent: Option<String>,
    pub rows: BTreeMap<String, usize>,
    /// How long its queries and rendering took.
    pub millis: u128,
}

impl RunRecord {
    /// Write the record as `dir/name` (`run.json`, or `run-failed.json` beside a sent one).
    pub fn write(&self, dir: &Path, name: &str) -> std::io::Result<()> {
        let json = serde_json::to_string_pretty(self).expect("run record serialises");
        // Errors quote URLs and server answers: no credential reaches the archive.
        write_atomic(&dir.join(name), crate::secrets::redact(&json).as_bytes())
    }
}

/// Whether the run folder records a sent report.
pub fn was_sent(dir: &Path) -> bool {
    std::fs::read(dir.join("run.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .is_some_and(|v| v["outcome"] == "sent")
}

/// The file a record with `outcome` goes to: `run.json`, except that nothing but another send
/// replaces the record of a sent report: any other outcome then goes to `run-failed.json` beside it.
pub fn record_name(dir: &Path, outcome: &str) -> &'static str {
    if outcome != "sent" && was_sent(dir) { "run-failed.json" } else { "run.json" }
}

/// A run folder being built: `.<period>.<pid>.building` beside the real one, swapped in whole by
/// [`Staging::commit`] and removed if the run stops before that.
pub struct Staging {
    dir: PathBuf,
    tmp: PathBuf,
    committed: bool,
}

impl Staging {
    /// Start building `dir`'s replacement. Staging folders that processes no longer running left
    /// behind (killed mid-run) are removed first.
    pub fn new(dir: &Path) -> std::io::Result<Staging> {
        let parent = dir.parent().unwrap_or(Path::new("."));
        let label = dir.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        std::fs::create_dir_all(parent)?;
        remove_stale(parent, &label);
        let tmp = parent.join(format!(".{label}.{}.building", std::process::id()));
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp)?;
        }
        std::fs::create_dir_all(tmp.join("results"))?;
        Ok(Staging { dir: dir.to_path_buf(), tmp, committed: false })
    }

    /// Where the files go until the commit.
    pub fn path(&self) -> &Path {
        &self.tmp
    }

    /// Put the built folder in place of the old one. A record of a sent report in the old folder
    /// is kept (a rerun does not erase what the recipients got).
    pub fn commit(mut self) -> std::io::Result<()> {
        let old_record = self.dir.join("run.json");
        if was_sent(&self.dir) {
            std::fs::copy(&old_record, self.tmp.join("run.json"))?;
        }
        let parent = self.dir.parent().unwrap_or(Path::new(".")).to_path_buf();
        let label = self.dir.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        let aside = parent.join(format!(".{label}.{}.old", std::process::id()));
        // Another process may swap the same folder at the same moment (two previews): try again.
        let mut tries = 0;
        loop {
            if self.dir.exists() {
                match std::fs::rename(&self.dir, &aside) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
            match std::fs::rename(&self.tmp, &self.dir) {
                Ok(()) => break,
                Err(_) if tries < 5 && self.dir.exists() => {
                    tries += 1;
                    let _ = std::fs::remove_dir_all(&aside);
                }
                Err(e) => return Err(e),
            }
        }
        self.committed = true;
        let _ = std::fs::remove_dir_all(&aside);
        sync_dir(&parent);
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.tmp);
        }
    }
}

/// Remove `.<label>.<pid>.building` and `.old` folders of processes that are gone.
fn remove_stale(parent: &Path, label: &str) {
    let Ok(entries) = std::fs::read_dir(parent) else { return };
    let prefix = format!(".{label}.");
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let Some(rest) = name.strip_prefix(&prefix) else { continue };
        let Some((pid, kind)) = rest.split_once('.') else { continue };
        if !(kind == "building" || kind == "old") {
            continue;
        }
        let Ok(pid) = pid.parse::<u32>() else { continue };
        if pid != std::process::id() && !alive(pid) {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// Remove `.<name>.<pid>.tmp` files in `dir` that processes no longer running left behind (a
/// `kill -9` between writing a temp file and renaming it).
fn remove_stale_temps(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let Some(rest) = name.strip_prefix('.').and_then(|n| n.strip_suffix(".tmp")) else { continue };
        let Some(pid) = rest.rsplit_once('.').and_then(|(_, pid)| pid.parse::<u32>().ok()) else { continue };
        if pid != std::process::id() && !alive(pid) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Whether process `pid` is running (on Linux; elsewhere, assume so and leave its folder).
fn alive(pid: u32) -> bool {
    if cfg!(target_os = "linux") { Path::new("/proc").join(pid.to_string()).exists() } else { true }
}

/// Make a folder's entries (renames) durable.
pub fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
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

    #[test]
    fn temp_files_of_killed_processes_are_removed_by_the_next_write() {
        let dir = tempfile::tempdir().unwrap();
        // A process that has ended, and one that is running (this one's parent).
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let live = std::os::unix::process::parent_id();
        for name in [format!(".run.json.{dead}.tmp"), format!(".run.json.{live}.tmp"), "notes.tmp".into()] {
            std::fs::write(dir.path().join(name), b"half").unwrap();
        }
        write_atomic(&dir.path().join("run.json"), b"{}").unwrap();
        let mut names: Vec<String> =
            std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().to_string()).collect();
        names.sort();
        assert_eq!(names, vec![format!(".run.json.{live}.tmp"), "notes.tmp".to_string(), "run.json".to_string()]);
    }
}

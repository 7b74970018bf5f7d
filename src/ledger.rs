//! The run ledger: one SQLite row per (job, period) recording where its run got to, the outbox
//! holding the exact message bytes before anything is sent, each recipient's delivery, and an
//! event log for `pareto history`. `pareto serve` and `pareto run` share it, so a period is sent
//! once whoever runs it. Also the state folder's locks: one daemon per state folder, and one
//! process at a time per job.

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Why the ledger could not be used.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("the run ledger {path}: {source}")]
    Sql { path: PathBuf, source: rusqlite::Error },
    #[error("cannot create the state folder {path}: {source}")]
    Folder { path: PathBuf, source: std::io::Error },
}

/// Where a period's run got to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    /// Someone took the period on; nothing rendered yet.
    Claimed,
    /// The message is in the outbox; nothing sent yet.
    Rendered,
    /// Recipients are being sent to.
    Sending,
    Sent,
    Failed,
    Held,
    /// Not sent on purpose: missed while the daemon was down, or no alert fired.
    Skipped,
    /// The connection was lost after the message was handed over: it may or may not have arrived.
    DeliveryUnknown,
}

impl State {
    pub fn as_str(&self) -> &'static str {
        match self {
            State::Claimed => "claimed",
            State::Rendered => "rendered",
            State::Sending => "sending",
            State::Sent => "sent",
            State::Failed => "failed",
            State::Held => "held",
            State::Skipped => "skipped",
            State::DeliveryUnknown => "delivery-unknown",
        }
    }

    fn parse(s: &str) -> State {
        match s {
            "claimed" => State::Claimed,
            "rendered" => State::Rendered,
            "sending" => State::Sending,
            "sent" => State::Sent,
            "held" => State::Held,
            "skipped" => State::Skipped,
            "delivery-unknown" => State::DeliveryUnknown,
            _ => State::Failed,
        }
    }

    /// A run in this state was under way: if nobody holds the job's lock, its process died.
    pub fn in_flight(&self) -> bool {
        matches!(self, State::Claimed | State::Rendered | State::Sending)
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One recipient's delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Delivery {
    Pending,
    Sent,
    Rejected,
    /// Handed over, then the connection was lost before the server answered.
    Unknown,
}

impl Delivery {
    pub fn as_str(&self) -> &'static str {
        match self {
            Delivery::Pending => "pending",
            Delivery::Sent => "sent",
            Delivery::Rejected => "rejected",
            Delivery::Unknown => "unknown",
        }
    }

    fn parse(s: &str) -> Delivery {
        match s {
            "sent" => Delivery::Sent,
            "rejected" => Delivery::Rejected,
            "unknown" => Delivery::Unknown,
            _ => Delivery::Pending,
        }
    }
}

/// A period's row.
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    pub id: i64,
    pub job: String,
    pub period: String,
    /// The scheduled instant the period fell due (or the `--as-of` of a `pareto run`).
    pub due_at: DateTime<Utc>,
    pub state: State,
    pub attempts: u32,
    /// How many times the message went out (more than one only after `--force`).
    pub sends: u32,
    /// Who ran the last attempt: `serve` or `run`, with the process id.
    pub by: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// When the daemon tries a failed or held period again (`None`: it does not).
    pub next_try_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
    pub message_id: Option<String>,
    pub subject: Option<String>,
}

/// One recipient's row.
#[derive(Debug, Clone, Serialize)]
pub struct Recipient {
    pub address: String,
    pub state: Delivery,
    pub attempts: u32,
    /// When the message bytes started to go to the server (set before, so a crash after it is
    /// recognisable).
    pub handed_at: Option<DateTime<Utc>>,
    pub reply: Option<String>,
    /// The group whose report it is (`""` for a job without `[burst]`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub group: String,
}

/// An entry of a run's event log.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    pub at: DateTime<Utc>,
    pub state: String,
    pub detail: Option<String>,
}

/// The ledger file in a state folder.
pub struct Ledger {
    conn: Mutex<Connection>,
    path: PathBuf,
}

/// Instants are stored as fixed-width UTC text, so they sort as text.
pub fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn parse_ts(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc)).unwrap_or_default()
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    job TEXT NOT NULL,
    period TEXT NOT NULL,
    due_at TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    sends INTEGER NOT NULL DEFAULT 0,
    by TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    next_try_at TEXT,
    error TEXT,
    message_id TEXT,
    subject TEXT,
    notified TEXT NOT NULL DEFAULT '',
    UNIQUE (job, period)
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs(id),
    at TEXT NOT NULL,
    state TEXT NOT NULL,
    detail TEXT
);
CREATE INDEX IF NOT EXISTS events_run ON events (run_id);
CREATE TABLE IF NOT EXISTS watermarks (
    job TEXT PRIMARY KEY,
    checked_until TEXT NOT NULL
);
";

const RUN_COLUMNS: &str =
    "id, job, period, due_at, state, attempts, sends, by, started_at, finished_at, next_try_at, error, message_id, subject";

/// The outbox: each message of a run (one per group for a bursting job), stored before any is sent.
const OUTBOX: &str = "outbox (
    run_id INTEGER NOT NULL REFERENCES runs(id),
    grp TEXT NOT NULL DEFAULT '',
    position INTEGER NOT NULL DEFAULT 0,
    label TEXT,
    sender TEXT,
    message BLOB NOT NULL,
    subject TEXT,
    message_id TEXT,
    hold TEXT,
    stored_at TEXT NOT NULL,
    PRIMARY KEY (run_id, grp)
);";

/// Each recipient's delivery of each message.
const DELIVERIES: &str = "deliveries (
    run_id INTEGER NOT NULL REFERENCES runs(id),
    grp TEXT NOT NULL DEFAULT '',
    position INTEGER NOT NULL,
    recipient TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    handed_at TEXT,
    reply TEXT,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (run_id, grp, recipient)
);";

/// A ledger written before bursting had one message per run: its outbox and deliveries gain the
/// group column (`''`: the job's one message), in one transaction, keeping every row.
const MIGRATE_GROUPS: &str = "
ALTER TABLE outbox RENAME TO outbox_v1;
ALTER TABLE deliveries RENAME TO deliveries_v1;
{tables}
INSERT INTO outbox (run_id, sender, message, stored_at) SELECT run_id, sender, message, stored_at FROM outbox_v1;
INSERT INTO deliveries (run_id, position, recipient, state, attempts, handed_at, reply, updated_at)
    SELECT run_id, position, recipient, state, attempts, handed_at, reply, updated_at FROM deliveries_v1;
DROP TABLE outbox_v1;
DROP TABLE deliveries_v1;
";

/// One message to put in the outbox: a job's report, or one group's of a bursting job.
#[derive(Debug, Clone)]
pub struct Outboxed {
    /// The group (`\"\"` for a job without `[burst]`).
    pub group: String,
    /// The group as people read it (`17 (Ada Akers)`).
    pub label: String,
    pub sender: Option<String>,
    pub message: Vec<u8>,
    pub recipients: Vec<String>,
    pub subject: String,
    pub message_id: String,
    /// Why it is not sent (no rows, no address): it has no recipients.
    pub hold: Option<String>,
}

/// A message waiting in the outbox: its group, the envelope sender, the exact bytes.
pub type Queued = (String, Option<String>, Vec<u8>);

/// A group of a run, as the outbox holds it.
#[derive(Debug, Clone, Serialize)]
pub struct GroupRow {
    pub group: String,
    pub label: String,
    pub subject: Option<String>,
    pub hold: Option<String>,
}

fn run_row(r: &rusqlite::Row) -> rusqlite::Result<Run> {
    let opt_ts = |i: usize| -> rusqlite::Result<Option<DateTime<Utc>>> { Ok(r.get::<_, Option<String>>(i)?.map(|s| parse_ts(&s))) };
    Ok(Run {
        id: r.get(0)?,
        job: r.get(1)?,
        period: r.get(2)?,
        due_at: parse_ts(&r.get::<_, String>(3)?),
        state: State::parse(&r.get::<_, String>(4)?),
        attempts: r.get(5)?,
        sends: r.get(6)?,
        by: r.get(7)?,
        started_at: opt_ts(8)?,
        finished_at: opt_ts(9)?,
        next_try_at: opt_ts(10)?,
        error: r.get(11)?,
        message_id: r.get(12)?,
        subject: r.get(13)?,
    })
}

impl Ledger {
    /// Open (or create) the ledger in `state_dir`.
    pub fn open(state_dir: &Path) -> Result<Ledger, LedgerError> {
        std::fs::create_dir_all(state_dir).map_err(|source| LedgerError::Folder { path: state_dir.to_path_buf(), source })?;
        let path = state_dir.join("ledger.sqlite");
        let sql = |source| LedgerError::Sql { path: path.clone(), source };
        let conn = Connection::open(&path).map_err(sql)?;
        // Another process holding the ledger is waited for this long (a test shortens it).
        let busy_ms = std::env::var("PARETO_TEST_LEDGER_BUSY_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(30_000);
        conn.busy_timeout(std::time::Duration::from_millis(busy_ms)).map_err(sql)?;
        // WAL lets `pareto history` read while the daemon writes; FULL makes every recorded step
        // survive a power cut, not only a crash.
        conn.pragma_update(None, "journal_mode", "WAL").map_err(sql)?;
        conn.pragma_update(None, "synchronous", "FULL").map_err(sql)?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(sql)?;
        conn.execute_batch(&format!("{SCHEMA}CREATE TABLE IF NOT EXISTS {OUTBOX}\nCREATE TABLE IF NOT EXISTS {DELIVERIES}\n"))
            .map_err(sql)?;
        let grouped: bool =
            conn.query_row("SELECT count(*) > 0 FROM pragma_table_info('outbox') WHERE name = 'grp'", [], |r| r.get(0)).map_err(sql)?;
        if !grouped {
            let tx = conn.unchecked_transaction().map_err(sql)?;
            let tables = format!("CREATE TABLE {OUTBOX}\nCREATE TABLE {DELIVERIES}");
            tx.execute_batch(&MIGRATE_GROUPS.replace("{tables}", &tables)).map_err(sql)?;
            tx.commit().map_err(sql)?;
        }
        Ok(Ledger { conn: Mutex::new(conn), path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn with<T>(&self, f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>) -> Result<T, LedgerError> {
        let mut conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut conn).map_err(|source| LedgerError::Sql { path: self.path.clone(), source })
    }

    /// The row for `job`'s `period`, if any.
    pub fn get(&self, job: &str, period: &str) -> Result<Option<Run>, LedgerError> {
        self.with(|c| {
            c.query_row(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE job = ?1 AND period = ?2"), params![job, period], run_row).optional()
        })
    }

    /// A row by id.
    pub fn run(&self, id: i64) -> Result<Run, LedgerError> {
        self.with(|c| c.query_row(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1"), [id], run_row))
    }

    /// The row for `job`'s `period`, created as `claimed` if there is none.
    pub fn get_or_claim(&self, job: &str, period: &str, due_at: DateTime<Utc>, now: DateTime<Utc>) -> Result<Run, LedgerError> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let inserted = tx.execute(
                "INSERT INTO runs (job, period, due_at, state, created_at, updated_at) VALUES (?1, ?2, ?3, 'claimed', ?4, ?4)
                 ON CONFLICT (job, period) DO NOTHING",
                params![job, period, ts(due_at), ts(now)],
            )?;
            let run =
                tx.query_row(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE job = ?1 AND period = ?2"), params![job, period], run_row)?;
            if inserted == 1 {
                event(&tx, run.id, now, "claimed", None)?;
            }
            tx.commit()?;
            Ok(run)
        })
    }

    /// Record the periods the scheduler found due in `(watermark, until]`, each with the state it
    /// starts in (`claimed` to run, `skipped` when catch-up passes it over), and move the watermark,
    /// in one transaction: a crash leaves either none of it or all of it. Periods that already
    /// have a row keep it. Returns the ids of rows it created.
    pub fn schedule(
        &self,
        job: &str,
        due: &[(String, DateTime<Utc>, State, Option<String>)],
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<i64>, LedgerError> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let mut created = Vec::new();
            for (period, due_at, state, detail) in due {
                let n = tx.execute(
                    "INSERT INTO runs (job, period, due_at, state, error, created_at, updated_at, finished_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, CASE WHEN ?4 = 'skipped' THEN ?6 END)
                     ON CONFLICT (job, period) DO NOTHING",
                    params![job, period, ts(*due_at), state.as_str(), detail, ts(now)],
                )?;
                if n == 1 {
                    let id = tx.last_insert_rowid();
                    event(&tx, id, now, state.as_str(), detail.as_deref())?;
                    created.push(id);
                }
            }
            tx.execute(
                "INSERT INTO watermarks (job, checked_until) VALUES (?1, ?2)
                 ON CONFLICT (job) DO UPDATE SET checked_until = max(checked_until, excluded.checked_until)",
                params![job, ts(until)],
            )?;
            tx.commit()?;
            Ok(created)
        })
    }

    /// Up to when the scheduler has looked at `job`'s schedule.
    pub fn watermark(&self, job: &str) -> Result<Option<DateTime<Utc>>, LedgerError> {
        self.with(|c| {
            Ok(c.query_row("SELECT checked_until FROM watermarks WHERE job = ?1", [job], |r| r.get::<_, String>(0))
                .optional()?
                .map(|s| parse_ts(&s)))
        })
    }

    /// Set the watermark where there is none yet (a first start).
    pub fn init_watermark(&self, job: &str, at: DateTime<Utc>) -> Result<(), LedgerError> {
        self.with(|c| {
            c.execute("INSERT INTO watermarks (job, checked_until) VALUES (?1, ?2) ON CONFLICT (job) DO NOTHING", params![job, ts(at)])
                .map(|_| ())
        })
    }

    /// Runs of `job` the daemon has work on: in flight (a process died mid-run), or failed or held
    /// and due for another try. Oldest first.
    pub fn pending(&self, job: &str, now: DateTime<Utc>) -> Result<Vec<Run>, LedgerError> {
        self.with(|c| {
            let mut st = c.prepare(&format!(
                "SELECT {RUN_COLUMNS} FROM runs WHERE job = ?1 AND (state IN ('claimed', 'rendered', 'sending')
                 OR (state IN ('failed', 'held') AND next_try_at IS NOT NULL AND next_try_at <= ?2)) ORDER BY due_at"
            ))?;
            st.query_map(params![job, ts(now)], run_row)?.collect()
        })
    }

    /// The earliest instant a failed or held run of `job` is due to be tried again.
    pub fn next_retry(&self, job: &str) -> Result<Option<DateTime<Utc>>, LedgerError> {
        self.with(|c| {
            Ok(c.query_row(
                "SELECT min(next_try_at) FROM runs WHERE job = ?1 AND state IN ('failed', 'held') AND next_try_at IS NOT NULL",
                [job],
                |r| r.get::<_, Option<String>>(0),
            )?
            .map(|s| parse_ts(&s)))
        })
    }

    /// Start an attempt: count it and say who makes it. A run that is not in flight goes back to
    /// `claimed`, or to `rendered` when its outbox still has recipients to send to.
    pub fn begin_attempt(&self, id: i64, by: &str, now: DateTime<Utc>) -> Result<Run, LedgerError> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let has_outbox: bool = tx.query_row("SELECT count(*) > 0 FROM outbox WHERE run_id = ?1", [id], |r| r.get(0))?;
            tx.execute(
                "UPDATE runs SET attempts = attempts + 1, by = ?2, started_at = ?3, updated_at = ?3, finished_at = NULL, next_try_at = NULL,
                 state = CASE WHEN state IN ('claimed', 'rendered', 'sending') THEN state WHEN ?4 THEN 'rendered' ELSE 'claimed' END
                 WHERE id = ?1",
                params![id, by, ts(now), has_outbox],
            )?;
            event(&tx, id, now, "attempt", Some(by))?;
            let run = tx.query_row(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1"), [id], run_row)?;
            tx.commit()?;
            Ok(run)
        })
    }

    /// Forget the outbox and deliveries of a run so that it is rendered and sent afresh (`--force`).
    pub fn reset(&self, id: i64, now: DateTime<Utc>, why: &str) -> Result<(), LedgerError> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            tx.execute("DELETE FROM deliveries WHERE run_id = ?1", [id])?;
            tx.execute("DELETE FROM outbox WHERE run_id = ?1", [id])?;
            tx.execute(
                "UPDATE runs SET state = 'claimed', error = NULL, notified = '', updated_at = ?2 WHERE id = ?1",
                params![id, ts(now)],
            )?;
            event(&tx, id, now, "claimed", Some(why))?;
            tx.commit()
        })
    }

    /// Put the rendered messages in the outbox with their recipients pending, and move the run to
    /// `rendered`, in one transaction: a bursting job's groups all, or none.
    pub fn store_outbox(&self, id: i64, messages: &[Outboxed], now: DateTime<Utc>) -> Result<(), LedgerError> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            tx.execute("DELETE FROM deliveries WHERE run_id = ?1", [id])?;
            tx.execute("DELETE FROM outbox WHERE run_id = ?1", [id])?;
            let mut position = 0i64;
            for (i, m) in messages.iter().enumerate() {
                tx.execute(
                    "INSERT INTO outbox (run_id, grp, position, label, sender, message, subject, message_id, hold, stored_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                    params![id, m.group, i as i64, m.label, m.sender, m.message, m.subject, m.message_id, m.hold, ts(now)],
                )?;
                for r in &m.recipients {
                    position += 1;
                    tx.execute(
                        "INSERT OR IGNORE INTO deliveries (run_id, grp, position, recipient, state, updated_at) VALUES (?1, ?2, ?3, ?4, 'pending', ?5)",
                        params![id, m.group, position, r, ts(now)],
                    )?;
                }
            }
            let (message_id, subject, detail) = match messages {
                [m] if m.group.is_empty() => {
                    (Some(m.message_id.clone()), m.subject.clone(), format!("{} bytes for {} recipient(s)", m.message.len(), m.recipients.len()))
                }
                _ => {
                    let held = messages.iter().filter(|m| m.hold.is_some()).count();
                    (
                        None,
                        format!("{} reports, one per group", messages.len()),
                        format!("{} group(s): {} to send ({position} recipient(s)), {held} not sent", messages.len(), messages.len() - held),
                    )
                }
            };
            tx.execute(
                "UPDATE runs SET state = 'rendered', message_id = ?2, subject = ?3, updated_at = ?4 WHERE id = ?1",
                params![id, message_id, subject, ts(now)],
            )?;
            event(&tx, id, now, "rendered", Some(&detail))?;
            tx.commit()
        })
    }

    /// The outbox: each message to send, with its group and sender, in the order they are sent.
    /// Messages held back (no rows, no address) are not in it.
    pub fn outbox(&self, id: i64) -> Result<Vec<Queued>, LedgerError> {
        self.with(|c| {
            let mut st = c.prepare("SELECT grp, sender, message FROM outbox WHERE run_id = ?1 AND hold IS NULL ORDER BY position")?;
            st.query_map([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect()
        })
    }

    /// The groups of a bursting job's run (none for a job without `[burst]`), in order.
    pub fn groups(&self, id: i64) -> Result<Vec<GroupRow>, LedgerError> {
        self.with(|c| {
            let mut st = c.prepare("SELECT grp, label, subject, hold FROM outbox WHERE run_id = ?1 AND grp <> '' ORDER BY position")?;
            st.query_map([id], |r| {
                Ok(GroupRow {
                    group: r.get(0)?,
                    label: r.get::<_, Option<String>>(1)?.unwrap_or_default(),
                    subject: r.get(2)?,
                    hold: r.get(3)?,
                })
            })?
            .collect()
        })
    }

    /// The recipients of a run, in the order they are sent to.
    pub fn recipients(&self, id: i64) -> Result<Vec<Recipient>, LedgerError> {
        self.with(|c| {
            let mut st =
                c.prepare("SELECT recipient, state, attempts, handed_at, reply, grp FROM deliveries WHERE run_id = ?1 ORDER BY position")?;
            st.query_map([id], |r| {
                Ok(Recipient {
                    address: r.get(0)?,
                    state: Delivery::parse(&r.get::<_, String>(1)?),
                    attempts: r.get(2)?,
                    handed_at: r.get::<_, Option<String>>(3)?.map(|s| parse_ts(&s)),
                    reply: r.get(4)?,
                    group: r.get(5)?,
                })
            })?
            .collect()
        })
    }

    /// Move the run to `sending` (once per attempt).
    pub fn sending(&self, id: i64, now: DateTime<Utc>) -> Result<(), LedgerError> {
        self.with(|c| {
            let n =
                c.execute("UPDATE runs SET state = 'sending', updated_at = ?2 WHERE id = ?1 AND state <> 'sending'", params![id, ts(now)])?;
            if n == 1 {
                event(c, id, now, "sending", None)?;
            }
            Ok(())
        })
    }

    /// Count an attempt at one recipient.
    pub fn attempt_recipient(&self, id: i64, group: &str, recipient: &str, now: DateTime<Utc>) -> Result<(), LedgerError> {
        self.with(|c| {
            c.execute(
                "UPDATE deliveries SET attempts = attempts + 1, updated_at = ?3 WHERE run_id = ?1 AND recipient = ?2 AND grp = ?4",
                params![id, recipient, ts(now), group],
            )
            .map(|_| ())
        })
    }

    /// Record that the message bytes are about to go to the server for `recipient`: from here on
    /// a lost connection means the delivery is unknown.
    pub fn handed(&self, id: i64, group: &str, recipient: &str, now: DateTime<Utc>) -> Result<(), LedgerError> {
        self.with(|c| {
            c.execute(
                "UPDATE deliveries SET handed_at = ?3, updated_at = ?3 WHERE run_id = ?1 AND recipient = ?2 AND grp = ?4",
                params![id, recipient, ts(now), group],
            )
            .map(|_| ())
        })
    }

    /// Record how one recipient's delivery ended (or, for `pending`, the last temporary failure).
    pub fn delivered(
        &self,
        id: i64,
        group: &str,
        recipient: &str,
        state: Delivery,
        reply: &str,
        now: DateTime<Utc>,
    ) -> Result<(), LedgerError> {
        self.with(|c| {
            let tx = c.transaction()?;
            tx.execute(
                "UPDATE deliveries SET state = ?3, reply = ?4, handed_at = CASE WHEN ?3 = 'pending' THEN NULL ELSE handed_at END,
                 updated_at = ?5 WHERE run_id = ?1 AND recipient = ?2 AND grp = ?6",
                params![id, recipient, state.as_str(), reply, ts(now), group],
            )?;
            if state != Delivery::Pending {
                let who = if group.is_empty() { recipient.to_string() } else { format!("{recipient} (group {group})") };
                event(&tx, id, now, &format!("recipient {}", state.as_str()), Some(&format!("{who}: {reply}")))?;
            }
            tx.commit()
        })
    }

    /// Recipients handed over by a process that died before the server's answer was recorded:
    /// their delivery is unknown. Returns their addresses.
    pub fn settle_handed(&self, id: i64, now: DateTime<Utc>) -> Result<Vec<String>, LedgerError> {
        let handed: Vec<Recipient> =
            self.recipients(id)?.into_iter().filter(|r| r.state == Delivery::Pending && r.handed_at.is_some()).collect();
        for r in &handed {
            self.delivered(
                id,
                &r.group,
                &r.address,
                Delivery::Unknown,
                "the process stopped after handing the message over and before the server's answer was recorded",
                now,
            )?;
        }
        Ok(handed.into_iter().map(|r| r.address).collect())
    }

    /// End an attempt in `state` with its error, and when to try again.
    pub fn finish(
        &self,
        id: i64,
        state: State,
        error: Option<&str>,
        next_try_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<(), LedgerError> {
        let error = error.map(crate::secrets::redact);
        self.with(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            tx.execute(
                "UPDATE runs SET state = ?2, error = ?3, next_try_at = ?4, finished_at = ?5, updated_at = ?5,
                 sends = sends + CASE WHEN ?2 IN ('sent', 'delivery-unknown') THEN 1 ELSE 0 END WHERE id = ?1",
                params![id, state.as_str(), error, next_try_at.map(ts), ts(now)],
            )?;
            event(&tx, id, now, state.as_str(), error.as_deref())?;
            tx.commit()
        })
    }

    /// Whether the owners were already told that this run ended `outcome`.
    pub fn notified(&self, id: i64, outcome: &str) -> Result<bool, LedgerError> {
        self.with(|c| {
            let n: String = c.query_row("SELECT notified FROM runs WHERE id = ?1", [id], |r| r.get(0))?;
            Ok(n.split(',').any(|s| s == outcome))
        })
    }

    /// Record that the owners were told that this run ended `outcome` (or, when `detail` says the
    /// notice failed, that telling them was tried and is not to be tried again).
    pub fn mark_notified(&self, id: i64, outcome: &str, now: DateTime<Utc>, detail: &str) -> Result<(), LedgerError> {
        self.with(|c| {
            c.execute(
                "UPDATE runs SET notified = CASE WHEN notified = '' THEN ?2 ELSE notified || ',' || ?2 END WHERE id = ?1",
                params![id, outcome],
            )?;
            let what = if crate::notify::told(detail) { "owners told" } else { "owners not told" };
            event(c, id, now, what, Some(detail))
        })
    }

    /// A job's periods the scheduler skipped (never attempted) whose owners have not been told,
    /// oldest first.
    pub fn untold_skipped(&self, job: &str) -> Result<Vec<Run>, LedgerError> {
        self.with(|c| {
            let mut st = c.prepare(&format!(
                "SELECT {RUN_COLUMNS} FROM runs WHERE job = ?1 AND state = 'skipped' AND attempts = 0 \
                 AND instr(',' || notified || ',', ',skipped,') = 0 ORDER BY due_at, id"
            ))?;
            st.query_map(params![job], run_row)?.collect()
        })
    }

    /// Rows, newest period first: all jobs or one, at most `limit`.
    pub fn history(&self, job: Option<&str>, limit: usize) -> Result<Vec<Run>, LedgerError> {
        self.with(|c| {
            let mut st =
                c.prepare(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE ?1 IS NULL OR job = ?1 ORDER BY due_at DESC, job LIMIT ?2"))?;
            st.query_map(params![job, limit as i64], run_row)?.collect()
        })
    }

    /// A run's event log, oldest first.
    pub fn events(&self, id: i64) -> Result<Vec<Event>, LedgerError> {
        self.with(|c| {
            let mut st = c.prepare("SELECT at, state, detail FROM events WHERE run_id = ?1 ORDER BY id")?;
            st.query_map([id], |r| Ok(Event { at: parse_ts(&r.get::<_, String>(0)?), state: r.get(1)?, detail: r.get(2)? }))?.collect()
        })
    }
}

fn event(c: &Connection, run_id: i64, at: DateTime<Utc>, state: &str, detail: Option<&str>) -> rusqlite::Result<()> {
    let detail = detail.map(crate::secrets::redact);
    c.execute("INSERT INTO events (run_id, at, state, detail) VALUES (?1, ?2, ?3, ?4)", params![run_id, ts(at), state, detail]).map(|_| ())
}

/// An exclusive lock on a file in the state folder, held until dropped (or the process dies: the
/// kernel releases it, so a killed process never leaves a stale lock).
#[derive(Debug)]
pub struct Lock {
    _file: File,
    pub path: PathBuf,
}

impl Lock {
    /// Take the lock at `path` if nobody holds it; `Ok(None)` when someone does. The holder
    /// writes its description (`serve pid 123`) into the file for the message of whoever waits.
    pub fn try_take(path: &Path, holder: &str) -> std::io::Result<Option<Lock>> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)?;
        match file.try_lock() {
            Ok(()) => {
                use std::io::{Seek, Write};
                let mut f = &file;
                f.set_len(0)?;
                f.seek(std::io::SeekFrom::Start(0))?;
                f.write_all(holder.as_bytes())?;
                Ok(Some(Lock { _file: file, path: path.to_path_buf() }))
            }
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(e),
        }
    }

    /// Who holds the lock at `path`, as it wrote it.
    pub fn holder(path: &Path) -> String {
        std::fs::read_to_string(path).map(|s| s.trim().to_string()).unwrap_or_default()
    }
}

/// The lock a daemon holds on its state folder.
pub fn daemon_lock_path(state: &Path) -> PathBuf {
    state.join("serve.lock")
}

/// The lock held while a job runs (by the daemon or `pareto run`).
pub fn job_lock_path(state: &Path, job: &str) -> PathBuf {
    state.join("locks").join(format!("{job}.lock"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn one_row_per_job_and_period() {
        let dir = tempfile::tempdir().unwrap();
        let l = Ledger::open(dir.path()).unwrap();
        let a = l.get_or_claim("weekly", "2026-W47", t("2026-11-23T06:00:00Z"), t("2026-11-23T06:00:01Z")).unwrap();
        let b = l.get_or_claim("weekly", "2026-W47", t("2026-11-23T07:00:00Z"), t("2026-11-23T07:00:01Z")).unwrap();
        assert_eq!((a.id, a.state, b.id, b.due_at), (b.id, State::Claimed, a.id, t("2026-11-23T06:00:00Z")));
        let created = l
            .schedule(
                "weekly",
                &[
                    ("2026-W47".into(), t("2026-11-23T06:00:00Z"), State::Claimed, None),
                    ("2026-W46".into(), t("2026-11-16T06:00:00Z"), State::Skipped, Some("missed".into())),
                ],
                t("2026-11-23T08:00:00Z"),
                t("2026-11-23T08:00:00Z"),
            )
            .unwrap();
        assert_eq!(created.len(), 1);
        assert_eq!(l.get("weekly", "2026-W46").unwrap().unwrap().state, State::Skipped);
        assert_eq!(l.watermark("weekly").unwrap(), Some(t("2026-11-23T08:00:00Z")));
    }

    #[test]
    fn a_ledger_from_before_bursting_keeps_its_outbox_and_deliveries() {
        let dir = tempfile::tempdir().unwrap();
        {
            // The schema as it was: one message per run, deliveries keyed by recipient.
            let c = Connection::open(dir.path().join("ledger.sqlite")).unwrap();
            c.execute_batch(
                "CREATE TABLE runs (id INTEGER PRIMARY KEY, job TEXT NOT NULL, period TEXT NOT NULL, due_at TEXT NOT NULL,
                   state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, sends INTEGER NOT NULL DEFAULT 0, by TEXT,
                   created_at TEXT NOT NULL, updated_at TEXT NOT NULL, started_at TEXT, finished_at TEXT, next_try_at TEXT,
                   error TEXT, message_id TEXT, subject TEXT, notified TEXT NOT NULL DEFAULT '', UNIQUE (job, period));
                 CREATE TABLE outbox (run_id INTEGER PRIMARY KEY REFERENCES runs(id), sender TEXT, message BLOB NOT NULL, stored_at TEXT NOT NULL);
                 CREATE TABLE deliveries (run_id INTEGER NOT NULL REFERENCES runs(id), position INTEGER NOT NULL, recipient TEXT NOT NULL,
                   state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, handed_at TEXT, reply TEXT, updated_at TEXT NOT NULL,
                   PRIMARY KEY (run_id, recipient));
                 INSERT INTO runs (id, job, period, due_at, state, created_at, updated_at) VALUES
                   (1, 'weekly', '2026-W47', '2026-11-23T06:00:00.000Z', 'sending', 'x', 'x');
                 INSERT INTO outbox VALUES (1, 'r@example.com', X'6869', 'x');
                 INSERT INTO deliveries VALUES (1, 0, 'a@example.com', 'sent', 1, 'x', '250 OK', 'x'),
                                               (1, 1, 'b@example.com', 'pending', 0, NULL, NULL, 'x');",
            )
            .unwrap();
        }
        let l = Ledger::open(dir.path()).unwrap();
        assert_eq!(l.outbox(1).unwrap(), vec![(String::new(), Some("r@example.com".to_string()), b"hi".to_vec())]);
        let r = l.recipients(1).unwrap();
        let got: Vec<(&str, Delivery, &str)> = r.iter().map(|r| (r.address.as_str(), r.state, r.group.as_str())).collect();
        assert_eq!(got, vec![("a@example.com", Delivery::Sent, ""), ("b@example.com", Delivery::Pending, "")]);
        // The rest of the run goes on as before, and opening it again changes nothing.
        l.delivered(1, "", "b@example.com", Delivery::Sent, "250 OK", t("2026-11-23T06:01:00Z")).unwrap();
        drop(l);
        let l = Ledger::open(dir.path()).unwrap();
        assert!(l.recipients(1).unwrap().iter().all(|r| r.state == Delivery::Sent));
        assert!(l.groups(1).unwrap().is_empty());
    }

    #[test]
    fn a_second_lock_on_the_same_file_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("serve.lock");
        let first = Lock::try_take(&p, "serve pid 1").unwrap().unwrap();
        assert!(Lock::try_take(&p, "serve pid 2").unwrap().is_none());
        assert_eq!(Lock::holder(&p), "serve pid 1");
        drop(first);
        assert!(Lock::try_take(&p, "serve pid 2").unwrap().is_some());
    }
}

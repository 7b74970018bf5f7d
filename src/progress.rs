//! A progress line for a run's queries on a terminal: how many are done, which are running, and
//! the time so far. Quiet when stderr is not a terminal, and off unless the command turns it on
//! (`pareto run` and `pareto demo` do; the daemon does not).

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

static ON: AtomicBool = AtomicBool::new(false);
static SAY: AtomicBool = AtomicBool::new(false);

/// Show progress from now on, when stderr is a terminal and logs are quiet; and say what a run
/// waits for (see [`say`]) when logs are quiet, terminal or not.
pub fn enable() {
    let quiet_logs = std::env::var("PARETO_LOG").map(|v| v.trim().is_empty()).unwrap_or(true);
    ON.store(std::io::stderr().is_terminal() && quiet_logs, Ordering::Relaxed);
    SAY.store(quiet_logs, Ordering::Relaxed);
}

/// A line on stderr about something a run is waiting for (a mail server's retry): with the
/// default log level nothing else would show for minutes. Off in the daemon, whose log says it.
pub fn say(line: &str) {
    if SAY.load(Ordering::Relaxed) {
        std::eprintln!("{}", crate::secrets::redact(line));
    }
}

/// A wait as a person reads it: `850 ms`, `42 s`, `7 min`.
pub fn human_wait(d: Duration) -> String {
    match d.as_millis() {
        ms if ms < 1000 => format!("{ms} ms"),
        ms if ms < 120_000 => format!("{} s", (ms + 500) / 1000),
        ms => format!("{} min", (ms + 30_000) / 60_000),
    }
}

/// The progress of one run's query graph.
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
    running: Vec<String>,
}

impl Progress {
    pub fn new(total: usize) -> Progress {
        Progress::counting(total, "queries")
    }

    /// A display counting `total` of `unit` (`queries`, `groups`).
    pub fn counting(total: usize, unit: &str) -> Progress {
        let bar = ON.load(Ordering::Relaxed).then(|| {
            let bar = indicatif::ProgressBar::new(total as u64);
            let style =
                indicatif::ProgressStyle::with_template(&format!("{{elapsed:>4}} [{{bar:20}}] {{pos}}/{{len}} {unit}  {{wide_msg}}"))
                    .expect("a valid template")
                    .progress_chars("=> ");
            bar.set_style(style);
            bar.enable_steady_tick(Duration::from_millis(250));
            bar
        });
        Progress { bar, running: Vec::new() }
    }

    pub fn started(&mut self, name: &str) {
        self.running.push(name.to_string());
        self.show();
    }

    pub fn done(&mut self, name: &str) {
        self.running.retain(|n| n != name);
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
        self.show();
    }

    fn show(&self) {
        if let Some(bar) = &self.bar {
            bar.set_message(if self.running.is_empty() { String::new() } else { format!("running {}", self.running.join(", ")) });
        }
    }

    /// Clear the line.
    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

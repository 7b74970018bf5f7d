//! A progress line for a run's queries on a terminal: how many are done, which are running, and
//! the time so far. Quiet when stderr is not a terminal, and off unless the command turns it on
//! (`pareto run` and `pareto demo` do; the daemon does not).

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

static ON: AtomicBool = AtomicBool::new(false);

/// Show progress from now on, when stderr is a terminal and logs are quiet.
pub fn enable() {
    let quiet_logs = std::env::var("PARETO_LOG").map(|v| v.trim().is_empty()).unwrap_or(true);
    ON.store(std::io::stderr().is_terminal() && quiet_logs, Ordering::Relaxed);
}

/// The progress of one run's query graph.
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
    running: Vec<String>,
}

impl Progress {
    pub fn new(total: usize) -> Progress {
        let bar = ON.load(Ordering::Relaxed).then(|| {
            let bar = indicatif::ProgressBar::new(total as u64);
            let style = indicatif::ProgressStyle::with_template("{elapsed:>4} [{bar:20}] {pos}/{len} queries  {wide_msg}")
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

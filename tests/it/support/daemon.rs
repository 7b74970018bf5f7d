//! A real `pareto serve` process for the crash and fault tests, and a small project for it: one
//! daily job over the hand-made lake, two recipients and an owner.

use super::TestProject;
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The job `tick`: every day at 06:00 UTC, the day before, to a@ and b@, owner o@.
pub const JOB: &str = r#"name = "tick"
schedule = "0 6 * * *"
timezone = "UTC"
period = "day"
queries = ["orders_in_period"]
template = "tick"
subject = "Tick · {{period.label}}"
to = ["a@example.com", "b@example.com"]
owners = ["o@example.com"]
"#;

/// A project with the job `tick` sending through the server on `smtp_port`.
pub fn project(smtp_port: u16, extra_config: &str) -> TestProject {
    let p = TestProject::new();
    super::lake::write(&p.root);
    p.file("pareto.toml", &format!("{}\n[serve]\nstatus = \"off\"\ngrace_secs = 30\n{extra_config}", super::config(smtp_port, "")));
    p.file("jobs/tick.toml", JOB);
    p.file(
        "queries/orders_in_period.sql",
        "SELECT count(*) AS orders, coalesce(sum(amount), 0) AS cents\nFROM orders\nWHERE ordered_at >= $period_start AND ordered_at < $period_end\n",
    );
    p.file("templates/tick.html.hbs", "<p>{{period.label}}: {{#each results.orders_in_period.rows}}{{orders}} orders{{/each}}</p>\n");
    p.file("templates/tick.txt.hbs", "{{period.label}}: {{#each results.orders_in_period.rows}}{{orders}} orders{{/each}}\n");
    p
}

/// A running `pareto serve`, its stderr collected line by line.
pub struct Serve {
    child: Option<Child>,
    pub lines: Arc<Mutex<Vec<String>>>,
}

impl Serve {
    pub fn start(p: &TestProject, args: &[&str], env: &[(&str, &str)]) -> Serve {
        let mut cmd = Command::new(super::BIN);
        cmd.arg("serve").args(args).current_dir(&p.root).env_remove("PARETO_LOG").env_remove("PARETO_TEST_PAUSE");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let (child, lines) = super::spawn_collecting(cmd, "pareto serve");
        Serve { child: Some(child), lines }
    }

    /// Wait until a line of stderr contains `text`; panics with everything printed after `secs`.
    #[track_caller]
    pub fn wait_for(&self, text: &str, secs: u64) {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(secs) {
            if self.lines.lock().unwrap().iter().any(|l| l.contains(text)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("pareto serve did not print `{text}` within {secs}s:\n{}", self.stderr());
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    pub fn stderr(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// kill -9.
    pub fn kill(&mut self) {
        let mut c = self.child.take().unwrap();
        c.kill().unwrap();
        c.wait().unwrap();
    }

    /// SIGTERM, and the exit code once it stopped.
    pub fn term(&mut self) -> i32 {
        let mut c = self.child.take().unwrap();
        unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
        let start = Instant::now();
        loop {
            if let Some(s) = c.try_wait().unwrap() {
                return s.code().unwrap_or(-1);
            }
            assert!(start.elapsed() < Duration::from_secs(60), "pareto serve did not stop on SIGTERM:\n{}", self.stderr());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Wait for the process to exit by itself; its code.
    pub fn exit_code(&mut self) -> i32 {
        let mut c = self.child.take().unwrap();
        c.wait().unwrap().code().unwrap_or(-1)
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Poll `f` every 20 ms for up to `secs` until it returns `Some`.
#[track_caller]
pub fn eventually<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(secs) {
        if let Some(t) = f() {
            return t;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("{what}: not within {secs}s");
}

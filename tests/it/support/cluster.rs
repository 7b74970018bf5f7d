//! A real Ballista cluster on loopback: a `pareto cluster scheduler` and executors, each its own
//! process on free ports, their logs kept for failure messages.

use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One process of the cluster and what it printed.
struct Proc {
    child: Option<Child>,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Proc {
    fn start(args: &[String], env: &[(String, String)]) -> Proc {
        let mut cmd = Command::new(super::BIN);
        cmd.args(args).env("PARETO_LOG", "info");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let (child, lines) = super::spawn_collecting(cmd, "pareto cluster");
        Proc { child: Some(child), lines }
    }

    fn printed(&self, text: &str) -> bool {
        self.lines.lock().unwrap().iter().any(|l| l.contains(text))
    }

    fn log(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A scheduler and `executors` executors (two slots each), with `env` (object-store
/// credentials) in all of them. An executor is taken as lost after 5 s without a heartbeat.
pub struct Cluster {
    scheduler: Proc,
    executors: Vec<Proc>,
    pub port: u16,
    _work: tempfile::TempDir,
}

impl Cluster {
    pub fn start(executors: usize, env: &[(String, String)]) -> Cluster {
        let port = super::free_port();
        let scheduler = Proc::start(
            &["cluster", "scheduler", "--bind", &format!("127.0.0.1:{port}"), "--executor-timeout", "5"].map(String::from),
            env,
        );
        let ready = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(ready.elapsed() < Duration::from_secs(60), "the scheduler did not listen on {port}:\n{}", scheduler.log());
            std::thread::sleep(Duration::from_millis(50));
        }
        let work = tempfile::tempdir().unwrap();
        let mut cluster = Cluster { scheduler, executors: Vec::new(), port, _work: work };
        for i in 0..executors {
            let (flight, grpc) = (super::free_port(), super::free_port());
            let dir = cluster._work.path().join(format!("executor-{i}"));
            let args = [
                "cluster",
                "executor",
                "--scheduler",
                &cluster.url(),
                "--bind",
                &format!("127.0.0.1:{flight}"),
                "--grpc-port",
                &grpc.to_string(),
                "--slots",
                "2",
                "--heartbeat",
                "1",
                "--work-dir",
                &dir.display().to_string(),
            ]
            .map(String::from);
            cluster.executors.push(Proc::start(&args, env));
        }
        for e in &cluster.executors {
            let start = Instant::now();
            while !e.printed("Executor registration succeed") {
                assert!(start.elapsed() < Duration::from_secs(60), "an executor did not register:\n{}", e.log());
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        cluster
    }

    /// The engine jobs name: `ballista://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("ballista://127.0.0.1:{}", self.port)
    }

    /// Wait until the scheduler has finished `n` jobs (queries) in all.
    #[track_caller]
    pub fn wait_for_jobs(&self, n: usize) {
        let start = Instant::now();
        while self.scheduler.log().matches("Job finished successfully").count() < n {
            assert!(start.elapsed() < Duration::from_secs(120), "the scheduler did not finish {n} jobs:\n{}", self.logs());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// kill -9 executor `i`.
    pub fn kill_executor(&mut self, i: usize) {
        self.executors[i].kill();
    }

    /// kill -9 the scheduler.
    pub fn kill_scheduler(&mut self) {
        self.scheduler.kill();
    }

    /// Everything the processes printed (for a failing assertion).
    pub fn logs(&self) -> String {
        let mut out = format!("--- scheduler\n{}", self.scheduler.log());
        for (i, e) in self.executors.iter().enumerate() {
            out.push_str(&format!("\n--- executor {i}\n{}", e.log()));
        }
        out
    }
}

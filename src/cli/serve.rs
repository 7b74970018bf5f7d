//! `pareto serve`: the long-running scheduler. Holds the state folder's lock, runs the daemon
//! loop, serves the status endpoint, and stops gracefully on SIGTERM or Ctrl-C.

use clap::Args;
use pareto::clock::SystemClock;
use pareto::exit;
use pareto::ledger::{self, Ledger, Lock};
use pareto::runner::Pauses;
use pareto::serve::{self, Daemon, Status};
use std::path::Path;
use std::sync::{Arc, Mutex};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// On the first start with this state folder, look at the schedule from this date or time
    /// (UTC, or a job's own zone for a bare date) instead of from now, so the periods due since
    /// then are caught up as `catch_up` says.
    #[arg(long)]
    pub from: Option<String>,
    /// Run what is due now, wait for it, and exit (for a system cron that wants the daemon's
    /// guarantees without a daemon).
    #[arg(long)]
    pub once: bool,
}

pub async fn run(root: &Path, a: ServeArgs) -> anyhow::Result<u8> {
    let project = match super::load(root) {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    let config = project.config.clone();
    let from = match &a.from {
        Some(t) => match pareto::period::parse_as_of(t, chrono_tz::UTC) {
            Ok(t) => Some(t),
            Err(e) => {
                eprintln!("error: --from: {e}");
                return Ok(exit::USAGE);
            }
        },
        None => None,
    };
    let holder = format!("serve pid {}", std::process::id());
    let lock_path = ledger::daemon_lock_path(&config.state);
    let lock = match Lock::try_take(&lock_path, &holder) {
        Ok(Some(l)) => l,
        Ok(None) => {
            eprintln!(
                "error: another pareto serve ({}) is using the state folder {}; stop it first, or give this one its own `state` in pareto.toml",
                Lock::holder(&lock_path),
                pareto::problem::shown(&project.root, &config.state).display()
            );
            return Ok(exit::BUSY);
        }
        Err(e) => {
            eprintln!("error: cannot lock {}: {e}", lock_path.display());
            return Ok(exit::USAGE);
        }
    };
    let ledger = match Ledger::open(&config.state) {
        Ok(l) => Arc::new(l),
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(exit::USAGE);
        }
    };
    let status = Arc::new(Mutex::new(Status::default()));
    let mut status_task = None;
    if let (Some(addr), false) = (config.serve.status, a.once) {
        match tokio::net::TcpListener::bind(addr).await {
            Ok(listener) => {
                let bound = listener.local_addr().unwrap_or(addr);
                tracing::info!(address = %bound, "status endpoint: /healthz, /runs");
                eprintln!("pareto serve: status on http://{bound}/healthz");
                status_task = Some(tokio::spawn(pareto::status::serve(listener, ledger.clone(), status.clone())));
            }
            Err(e) => {
                eprintln!("error: cannot listen on {addr} for the status endpoint (`serve.status` in pareto.toml, or `off`): {e}");
                return Ok(exit::USAGE);
            }
        }
    }
    for job in &project.jobs {
        if let Some(at) = pareto::schedule::next(&job.cron, job.tz, chrono::Utc::now(), 1).first() {
            tracing::info!(job = %job.name, next = %at.with_timezone(&job.tz).format("%Y-%m-%d %H:%M %Z"), "scheduled");
        }
    }
    tracing::info!(jobs = project.jobs.len(), state = %config.state.display(), "pareto serve started");
    let daemon = Arc::new(Daemon {
        project: Arc::new(project),
        ledger,
        clock: Arc::new(SystemClock),
        pauses: Pauses::from_env(),
        from,
        stopping: Default::default(),
    });
    let stop = async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: stopping"),
            _ = tokio::signal::ctrl_c() => tracing::info!("interrupt: stopping"),
        }
    };
    let result = serve::run_loop(daemon, status, stop, config.serve.grace, a.once).await;
    if let Some(t) = status_task {
        t.abort();
    }
    drop(lock);
    match result {
        Ok(()) => Ok(exit::OK),
        Err(e) => {
            eprintln!("error: {e}");
            Ok(exit::JOB_FAILED)
        }
    }
}

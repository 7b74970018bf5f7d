//! `pareto cluster scheduler|executor`: the processes of a Ballista cluster, for jobs with
//! `engine = "ballista://host:port"`.

use clap::{Args, Subcommand};
use pareto::cluster::{self, Engine, ExecutorOptions, SchedulerOptions};
use pareto::exit;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct ClusterArgs {
    #[command(subcommand)]
    pub role: Role,
}

#[derive(Debug, Subcommand)]
pub enum Role {
    /// Start a scheduler: it takes jobs' queries, cuts them into stages and hands those to executors.
    Scheduler(SchedulerArgs),
    /// Start an executor: it runs the stages a scheduler hands it, reading the lake itself.
    Executor(ExecutorArgs),
}

#[derive(Debug, Args)]
pub struct SchedulerArgs {
    /// Address to listen on (jobs name it as `engine = "ballista://HOST:PORT"`).
    #[arg(long, default_value = "127.0.0.1:50050")]
    pub bind: SocketAddr,
    /// Seconds without a heartbeat after which an executor is taken as lost and its tasks rerun elsewhere.
    #[arg(long, default_value_t = 60)]
    pub executor_timeout: u64,
}

#[derive(Debug, Args)]
pub struct ExecutorArgs {
    /// The scheduler, as jobs name it (`ballista://host:port`).
    #[arg(long)]
    pub scheduler: String,
    /// Address for results (Arrow Flight); the scheduler hands tasks to the next port up unless --grpc-port says otherwise.
    #[arg(long, default_value = "127.0.0.1:50051")]
    pub bind: SocketAddr,
    /// Port the scheduler hands tasks to.
    #[arg(long)]
    pub grpc_port: Option<u16>,
    /// Tasks at once (default: the cores).
    #[arg(long)]
    pub slots: Option<usize>,
    /// Folder for shuffle files and spills (default: a folder under the system's temp folder).
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
    /// Seconds between heartbeats to the scheduler (keep it well under the scheduler's --executor-timeout).
    #[arg(long, default_value_t = 15)]
    pub heartbeat: u64,
    /// Memory its tasks may hold at once, such as "8GiB" (they spill to the work folder beyond it).
    #[arg(long)]
    pub memory_limit: Option<String>,
}

pub async fn run(a: ClusterArgs) -> anyhow::Result<u8> {
    let outcome = match a.role {
        Role::Scheduler(s) => {
            if s.executor_timeout == 0 {
                eprintln!("error: --executor-timeout must be at least 1 second");
                return Ok(exit::USAGE);
            }
            eprintln!("pareto cluster scheduler: listening on {} (jobs use engine = \"ballista://{}\")", s.bind, s.bind);
            cluster::scheduler(SchedulerOptions { bind: s.bind, executor_timeout: Duration::from_secs(s.executor_timeout) }).await
        }
        Role::Executor(e) => {
            let (host, port) = match Engine::parse(&e.scheduler) {
                Ok(Engine::Ballista { host, port }) => (host, port),
                Ok(Engine::Embedded) | Err(_) => {
                    eprintln!("error: --scheduler: `{}` is not a scheduler address such as `ballista://10.0.0.5:50050`", e.scheduler);
                    return Ok(exit::USAGE);
                }
            };
            let memory_limit = match e.memory_limit.as_deref().map(|t| (t, pareto::spec::config::parse_bytes(t))) {
                None => None,
                Some((_, Some(n))) => Some(n),
                Some((t, None)) => {
                    eprintln!("error: --memory-limit: `{t}` is not a size such as \"8GiB\" or \"512MiB\"");
                    return Ok(exit::USAGE);
                }
            };
            let Some(grpc_port) = e.grpc_port.or_else(|| e.bind.port().checked_add(1)) else {
                eprintln!("error: --bind uses the last port; give --grpc-port");
                return Ok(exit::USAGE);
            };
            let slots = e.slots.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)).max(1);
            let work_dir = e.work_dir.unwrap_or_else(|| std::env::temp_dir().join(format!("pareto-executor-{}", e.bind.port())));
            eprintln!(
                "pareto cluster executor: {slots} slot(s), results on {}, tasks on port {grpc_port}, scheduler ballista://{host}:{port}, work folder {}",
                e.bind,
                work_dir.display()
            );
            cluster::executor(ExecutorOptions {
                scheduler_host: host,
                scheduler_port: port,
                bind: e.bind,
                grpc_port,
                slots,
                work_dir,
                heartbeat: Duration::from_secs(e.heartbeat.max(1)),
                memory_limit,
            })
            .await
        }
    };
    match outcome {
        Ok(()) => Ok(exit::OK),
        Err(e) => {
            eprintln!("error: {e:#}");
            Ok(exit::JOB_FAILED)
        }
    }
}

//! The `pareto` binary: parse arguments, start logging, run the command, exit with its code.

/// What the commands print on stderr goes through the same redaction as the log: an error can
/// quote a lake URL or a server's answer.
macro_rules! eprintln {
    ($($arg:tt)*) => {
        std::eprintln!("{}", pareto::secrets::redact(&format!($($arg)*)))
    };
}

mod cli;

use clap::Parser;
use std::process::ExitCode;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The log filter from `PARETO_LOG` (`debug`, or directives such as `info,datafusion=debug`).
/// Handlebars logs every helper's parameters at debug level, which are whole query results
/// (customer data), and the SQL parser logs each token: both stay at `warn` unless named.
fn log_filter(spec: Option<String>, default: &str) -> tracing_subscriber::EnvFilter {
    let mut directives = spec.filter(|s| !s.trim().is_empty()).unwrap_or_else(|| default.to_string());
    for target in ["handlebars", "sqlparser"] {
        if !directives.contains(target) {
            directives.push_str(&format!(",{target}=warn"));
        }
    }
    tracing_subscriber::EnvFilter::try_new(&directives).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default))
}

/// How long (ms) memory freed to mimalloc stays mapped before it goes back to the system, unless
/// `MIMALLOC_PURGE_DELAY` says otherwise. mimalloc keeps it a second; the weekly job at a million
/// customers frees and reallocates hundreds of MiB between queries, and a quarter of a second held
/// its peak at 1.74–1.85 GB where a second reached 2.0–2.2 GB, for the same time (the page faults of
/// memory that came back are cheap without huge pages: see `no_thp` in Cargo.toml).
const PURGE_DELAY_MS: std::ffi::c_long = 250;
/// `mi_option_purge_delay` in mimalloc.h (v3, which this build uses), which libmimalloc-sys does
/// not name.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() -> ExitCode {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets one of mimalloc's options, read on its next purge; no other thread runs yet.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS) };
    }
    let args = cli::Args::parse();
    // The daemon logs what it does by default; one-shot commands only warnings.
    let default = if matches!(args.command, cli::Command::Serve(_) | cli::Command::Cluster(_)) { "info" } else { "warn" };
    let filter = log_filter(std::env::var("PARETO_LOG").ok(), default);
    // Logs go through a writer that replaces every secret pareto knows of (the SMTP password,
    // object-store keys), whatever the level and whichever crate logs.
    pareto::secrets::register_env();
    // Colours only on a terminal: a log file or journal gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(pareto::secrets::Stderr::new).with_target(false).with_ansi(ansi);
    if args.log_format == cli::LogFormat::Json {
        builder.json().init();
    } else {
        builder.init();
    }
    // Deep plans are encoded and decoded recursively (a cluster's plans travel as protobuf): the
    // threads get Ballista's 32 MiB stacks (reserved, not used, until a plan needs them).
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().thread_stack_size(32 << 20).build().expect("tokio runtime");
    match runtime.block_on(cli::run(args)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(pareto::exit::USAGE)
        }
    }
}

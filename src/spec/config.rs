//! `pareto.toml`: SMTP settings, sender, archive and state folders, daemon settings and defaults, overridable by environment
//! variables (`PARETO_SMTP_HOST`, …).

use super::toml_problem;
use crate::problem::Problem;
use lettre::message::Mailbox;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    from: Option<String>,
    reply_to: Option<String>,
    archive: Option<String>,
    state: Option<String>,
    #[serde(default)]
    smtp: RawSmtp,
    #[serde(default)]
    serve: RawServe,
    #[serde(default)]
    defaults: RawDefaults,
    #[serde(default)]
    render: RawRender,
    #[serde(default)]
    lake: RawLake,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSmtp {
    host: Option<String>,
    port: Option<u16>,
    tls: Option<String>,
    user: Option<String>,
    password_env: Option<String>,
    ca_file: Option<String>,
    timeout_secs: Option<u64>,
    retries: Option<u32>,
    retry_base_secs: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServe {
    status: Option<String>,
    grace_secs: Option<u64>,
    retry_minutes: Option<f64>,
    max_attempts: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDefaults {
    timezone: Option<String>,
    lake: Option<String>,
    currency: Option<String>,
    engine: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRender {
    strict: Option<bool>,
    max_rows: Option<usize>,
    max_message_mb: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLake {
    contract: Option<bool>,
    timeout_secs: Option<u64>,
    memory_limit: Option<String>,
    parallel_queries: Option<usize>,
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain connection upgraded with STARTTLS; refuses servers that do not offer it.
    StartTls,
    /// TLS from the first byte (SMTPS, usually port 465).
    Tls,
    /// No encryption: only for a relay on the same host or a test server.
    None,
}

/// Checked SMTP settings.
#[derive(Debug, Clone)]
pub struct Smtp {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub user: Option<String>,
    /// The password itself, read from the environment variable named in `password_env`.
    pub password: Option<String>,
    pub password_env: String,
    pub ca_file: Option<PathBuf>,
    pub timeout_secs: u64,
    /// Further attempts after a temporary failure (4xx, or the connection failing before DATA).
    pub retries: u32,
    /// The first retry's delay; each next one doubles, with jitter.
    pub retry_base: std::time::Duration,
}

/// Settings for `pareto serve`.
#[derive(Debug, Clone)]
pub struct Serve {
    /// The loopback address of the status endpoint, or `None` when it is off.
    pub status: Option<std::net::SocketAddr>,
    /// On SIGTERM, how long running jobs may take to finish.
    pub grace: std::time::Duration,
    /// How long after a failed or held run of a period it is tried again.
    pub retry_after: chrono::Duration,
    /// Attempts per period before it stays failed.
    pub max_attempts: u32,
}

/// Checked project settings.
#[derive(Debug, Clone)]
pub struct Config {
    pub from: Option<Mailbox>,
    pub reply_to: Option<Mailbox>,
    pub archive: PathBuf,
    /// The state folder: the run ledger and the daemon's lock.
    pub state: PathBuf,
    pub smtp: Smtp,
    pub serve: Serve,
    /// The longest a run may spend reading the lake and running its queries.
    pub lake_timeout: std::time::Duration,
    /// `[lake] memory_limit` (or `PARETO_MEMORY_LIMIT`): bytes the queries of a run may hold at
    /// once; sorts and aggregations spill to the temp folder beyond it. `None`: no limit.
    pub memory_limit: Option<usize>,
    /// `[lake] parallel_queries`: queries of a run running at once, at most.
    pub parallel_queries: usize,
    pub timezone: Option<String>,
    pub lake: Option<String>,
    /// `PARETO_LAKE`: replaces every job's lake (an operator pointing all jobs at another copy).
    pub lake_override: Option<String>,
    /// `[defaults] engine`: where jobs' SQL runs unless a job says otherwise.
    pub engine: crate::cluster::Engine,
    /// `PARETO_ENGINE`: replaces every job's engine.
    pub engine_override: Option<crate::cluster::Engine>,
    pub currency: String,
    pub strict: bool,
    /// `[render] max_rows`: rows of each result a template (and alert) sees, at most.
    pub max_rows: usize,
    /// `[render] max_message_mb`: a message larger than this leaves its largest attachments out.
    pub max_message_bytes: usize,
    pub contract: bool,
}

/// Load `pareto.toml` from `root` (defaults when it is absent), then apply `env` overrides.
pub fn load(root: &Path, env: &BTreeMap<String, String>) -> Result<Config, Vec<Problem>> {
    let path = root.join("pareto.toml");
    match std::fs::read_to_string(&path) {
        Ok(text) => from_text(root, Some(&text), env),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => from_text(root, None, env),
        Err(e) => Err(vec![Problem::new(PathBuf::from("pareto.toml"), format!("cannot read: {e}"))]),
    }
}

/// Parse and check the text of `pareto.toml` (`None`: there is none) of the project at `root`,
/// then apply `env` overrides.
pub fn from_text(root: &Path, text: Option<&str>, env: &BTreeMap<String, String>) -> Result<Config, Vec<Problem>> {
    let shown = PathBuf::from("pareto.toml");
    let raw: RawConfig = match text {
        Some(text) => toml::from_str(text).map_err(|e| vec![toml_problem(&shown, text, &e)])?,
        None => RawConfig::default(),
    };
    let mut problems = Vec::new();
    let var = |k: &str| env.get(k).filter(|v| !v.is_empty()).cloned();
    let mut bad = |key: &str, msg: String| problems.push(Problem::new(shown.clone(), format!("`{key}`: {msg}")));

    let mailbox = |key: &str, v: Option<String>, bad: &mut dyn FnMut(&str, String)| -> Option<Mailbox> {
        let v = v?;
        match v.parse::<Mailbox>() {
            Ok(m) => Some(m),
            Err(e) => {
                bad(key, format!("`{v}` is not an email address ({e}); write it as `Name <name@example.com>` or `name@example.com`"));
                None
            }
        }
    };
    let from = mailbox("from", var("PARETO_FROM").or(raw.from), &mut bad);
    let reply_to = mailbox("reply_to", var("PARETO_REPLY_TO").or(raw.reply_to), &mut bad);

    let tls_text = var("PARETO_SMTP_TLS").or(raw.smtp.tls).unwrap_or_else(|| "starttls".into());
    let tls = match tls_text.as_str() {
        "starttls" => TlsMode::StartTls,
        "tls" => TlsMode::Tls,
        "none" => TlsMode::None,
        other => {
            bad("smtp.tls", format!("`{other}` is not one of `starttls`, `tls`, `none`"));
            TlsMode::StartTls
        }
    };
    let port = match var("PARETO_SMTP_PORT") {
        Some(p) => p.parse().unwrap_or_else(|_| {
            bad("PARETO_SMTP_PORT", format!("`{p}` is not a port number"));
            25
        }),
        None => raw.smtp.port.unwrap_or(match tls {
            TlsMode::Tls => 465,
            TlsMode::StartTls => 587,
            TlsMode::None => 25,
        }),
    };
    let password_env = raw.smtp.password_env.unwrap_or_else(|| "PARETO_SMTP_PASSWORD".into());
    let password = var("PARETO_SMTP_PASSWORD").or_else(|| var(&password_env));
    if let Some(pw) = &password {
        let user = var("PARETO_SMTP_USER").or_else(|| raw.smtp.user.clone());
        crate::secrets::register_smtp(user.as_deref(), pw);
    }
    let archive = var("PARETO_ARCHIVE").or(raw.archive).unwrap_or_else(|| "archive".into());
    let ca_file = raw.smtp.ca_file.map(|f| root.join(f));
    let timeout_secs = raw.smtp.timeout_secs.unwrap_or(60);
    if !(1..=3600).contains(&timeout_secs) {
        bad("smtp.timeout_secs", format!("{timeout_secs} is not 1 to 3600 seconds"));
    }
    let retries = raw.smtp.retries.unwrap_or(4);
    if retries > 20 {
        bad("smtp.retries", format!("{retries} is more than 20"));
    }
    let retry_base = raw.smtp.retry_base_secs.unwrap_or(30.0);
    if !(0.0..=3600.0).contains(&retry_base) {
        bad("smtp.retry_base_secs", format!("{retry_base} is not 0 to 3600 seconds"));
    }
    let status_text = var("PARETO_STATUS").or(raw.serve.status).unwrap_or_else(|| "127.0.0.1:9187".into());
    let status = if status_text == "off" {
        None
    } else {
        match status_text.parse::<std::net::SocketAddr>() {
            Ok(a) if a.ip().is_loopback() => Some(a),
            Ok(_) => {
                bad(
                    "serve.status",
                    format!(
                        "`{status_text}` is not a loopback address: the status endpoint listens on 127.0.0.1 or ::1 only (put a proxy in front to publish it)"
                    ),
                );
                None
            }
            Err(_) => {
                bad("serve.status", format!("`{status_text}` is not an address such as `127.0.0.1:9187` (or `off`)"));
                None
            }
        }
    };
    let retry_minutes = raw.serve.retry_minutes.unwrap_or(30.0);
    if !(0.0..=7.0 * 24.0 * 60.0).contains(&retry_minutes) {
        bad("serve.retry_minutes", format!("{retry_minutes} is not 0 to 10080 minutes"));
    }
    let max_attempts = raw.serve.max_attempts.unwrap_or(5);
    if max_attempts == 0 {
        bad("serve.max_attempts", "must be at least 1".into());
    }
    let max_message_mb = raw.render.max_message_mb.unwrap_or(10.0);
    if !(max_message_mb >= 0.1 && max_message_mb <= 1000.0) {
        bad("render.max_message_mb", format!("`{max_message_mb}` must be 0.1 to 1000 (MB)"));
    }
    let max_message_bytes = (max_message_mb * 1_000_000.0) as usize;
    let lake_timeout = raw.lake.timeout_secs.unwrap_or(3600);
    if lake_timeout == 0 {
        bad("lake.timeout_secs", "must be at least 1 second".into());
    }
    let memory_limit = match var("PARETO_MEMORY_LIMIT").or(raw.lake.memory_limit.clone()) {
        None => None,
        Some(text) => match parse_bytes(&text) {
            Some(n) if n >= 16 << 20 => Some(n),
            Some(_) => {
                bad("lake.memory_limit", format!("`{text}` is less than 16MiB, too little for any query"));
                None
            }
            None => {
                bad("lake.memory_limit", format!("`{text}` is not a size such as \"1GiB\", \"512MiB\" or \"2GB\""));
                None
            }
        },
    };
    // Under a memory limit the queries run one at a time by default: each then has the whole pool,
    // and an aggregation that spills still has room to merge what it spilled.
    let parallel_queries = raw.lake.parallel_queries.unwrap_or(if memory_limit.is_some() { 1 } else { 2 });
    if parallel_queries == 0 {
        bad("lake.parallel_queries", "must be at least 1".into());
    }
    let state = var("PARETO_STATE").or(raw.state).unwrap_or_else(|| "state".into());
    let timezone = raw.defaults.timezone;
    if let Some(tz) = &timezone
        && tz.parse::<chrono_tz::Tz>().is_err()
    {
        bad("defaults.timezone", format!("`{tz}` is not an IANA time zone name such as `Europe/Amsterdam`"));
    }
    let engine = match raw.defaults.engine.as_deref().map(crate::cluster::Engine::parse) {
        None => crate::cluster::Engine::Embedded,
        Some(Ok(e)) => e,
        Some(Err(why)) => {
            bad("defaults.engine", why);
            crate::cluster::Engine::Embedded
        }
    };
    let engine_override = match var("PARETO_ENGINE").map(|t| crate::cluster::Engine::parse(&t)) {
        None => None,
        Some(Ok(e)) => Some(e),
        Some(Err(why)) => {
            bad("PARETO_ENGINE", why);
            None
        }
    };
    // DataFusion's own settings from DATAFUSION_* variables (read again for each session).
    if let Err(e) = datafusion::prelude::SessionConfig::from_env() {
        let text = e.to_string();
        let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty() && *l != "caused by").collect();
        let what = match lines.first().and_then(|l| l.strip_prefix("Error setting config ")) {
            Some(key) => format!("`{}` ({key})", key.to_uppercase().replace('.', "_")),
            None => "a DATAFUSION_* environment variable".to_string(),
        };
        let cause = lines.get(1).copied().unwrap_or(text.as_str());
        problems.push(Problem::new(None, format!("{what}: {cause}; fix or unset it")));
    }

    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Config {
        from,
        reply_to,
        archive: root.join(archive),
        state: root.join(state),
        serve: Serve {
            status,
            grace: std::time::Duration::from_secs(raw.serve.grace_secs.unwrap_or(300)),
            retry_after: chrono::Duration::milliseconds((retry_minutes * 60_000.0) as i64),
            max_attempts,
        },
        lake_timeout: std::time::Duration::from_secs(lake_timeout),
        memory_limit,
        parallel_queries,
        smtp: Smtp {
            host: var("PARETO_SMTP_HOST").or(raw.smtp.host).unwrap_or_else(|| "localhost".into()),
            port,
            tls,
            user: var("PARETO_SMTP_USER").or(raw.smtp.user),
            password,
            password_env,
            ca_file,
            timeout_secs,
            retries,
            retry_base: std::time::Duration::from_secs_f64(retry_base),
        },
        timezone,
        lake: raw.defaults.lake,
        lake_override: var("PARETO_LAKE"),
        engine,
        engine_override,
        currency: raw.defaults.currency.unwrap_or_else(|| "USD".into()),
        strict: raw.render.strict.unwrap_or(true),
        max_rows: raw.render.max_rows.unwrap_or(10_000),
        max_message_bytes,
        contract: raw.lake.contract.unwrap_or(true),
    })
}

/// A size such as `1GiB`, `512 MiB`, `2GB` or `1048576` (bytes), as bytes.
pub fn parse_bytes(text: &str) -> Option<usize> {
    let t = text.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().ok()?;
    let factor: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kib" | "k" => 1024.0,
        "mib" | "m" => 1024.0 * 1024.0,
        "gib" | "g" => 1024.0 * 1024.0 * 1024.0,
        "tib" | "t" => 1024.0_f64.powi(4),
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        "tb" => 1e12,
        _ => return None,
    };
    let bytes = n * factor;
    (bytes.is_finite() && bytes >= 0.0 && bytes < usize::MAX as f64).then_some(bytes as usize)
}

#[cfg(test)]
mod size_tests {
    use super::parse_bytes;

    #[test]
    fn sizes_read_in_binary_and_decimal_units() {
        assert_eq!(parse_bytes("1GiB"), Some(1 << 30));
        assert_eq!(parse_bytes("512 MiB"), Some(512 << 20));
        assert_eq!(parse_bytes("2GB"), Some(2_000_000_000));
        assert_eq!(parse_bytes("1.5g"), Some(3 << 29));
        assert_eq!(parse_bytes("1048576"), Some(1 << 20));
        assert_eq!(parse_bytes("lots"), None);
        assert_eq!(parse_bytes("1 parsec"), None);
    }
}

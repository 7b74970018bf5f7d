//! `pareto.toml`: SMTP settings, sender, archive folder and defaults, overridable by environment
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
    #[serde(default)]
    smtp: RawSmtp,
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
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDefaults {
    timezone: Option<String>,
    lake: Option<String>,
    currency: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRender {
    strict: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLake {
    contract: Option<bool>,
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
}

/// Checked project settings.
#[derive(Debug, Clone)]
pub struct Config {
    pub from: Option<Mailbox>,
    pub reply_to: Option<Mailbox>,
    pub archive: PathBuf,
    pub smtp: Smtp,
    pub timezone: Option<String>,
    pub lake: Option<String>,
    /// `PARETO_LAKE`: replaces every job's lake (an operator pointing all jobs at another copy).
    pub lake_override: Option<String>,
    pub currency: String,
    pub strict: bool,
    pub contract: bool,
}

/// Load `pareto.toml` from `root` (defaults when it is absent), then apply `env` overrides.
pub fn load(root: &Path, env: &BTreeMap<String, String>) -> Result<Config, Vec<Problem>> {
    let path = root.join("pareto.toml");
    let shown = PathBuf::from("pareto.toml");
    let raw: RawConfig = match std::fs::read_to_string(&path) {
        Ok(text) => toml::from_str(&text).map_err(|e| vec![toml_problem(&shown, &text, &e)])?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => RawConfig::default(),
        Err(e) => return Err(vec![Problem::new(shown, format!("cannot read: {e}"))]),
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
    let archive = var("PARETO_ARCHIVE").or(raw.archive).unwrap_or_else(|| "archive".into());
    let ca_file = raw.smtp.ca_file.map(|f| root.join(f));
    let timeout_secs = raw.smtp.timeout_secs.unwrap_or(60);
    if !(1..=3600).contains(&timeout_secs) {
        bad("smtp.timeout_secs", format!("{timeout_secs} is not 1 to 3600 seconds"));
    }
    let timezone = raw.defaults.timezone;
    if let Some(tz) = &timezone
        && tz.parse::<chrono_tz::Tz>().is_err()
    {
        bad("defaults.timezone", format!("`{tz}` is not an IANA time zone name such as `Europe/Amsterdam`"));
    }

    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Config {
        from,
        reply_to,
        archive: root.join(archive),
        smtp: Smtp {
            host: var("PARETO_SMTP_HOST").or(raw.smtp.host).unwrap_or_else(|| "localhost".into()),
            port,
            tls,
            user: var("PARETO_SMTP_USER").or(raw.smtp.user),
            password,
            password_env,
            ca_file,
            timeout_secs,
        },
        timezone,
        lake: raw.defaults.lake,
        lake_override: var("PARETO_LAKE"),
        currency: raw.defaults.currency.unwrap_or_else(|| "USD".into()),
        strict: raw.render.strict.unwrap_or(true),
        contract: raw.lake.contract.unwrap_or(true),
    })
}

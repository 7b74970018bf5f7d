//! Delivery over SMTP with lettre's connection, step by step: STARTTLS, implicit TLS or plain,
//! AUTH, then one envelope per recipient, every step under a timeout, each failure classified
//! as retryable, a refusal, fatal, or (after the message was handed over) unknown.

use super::DeliverError;
use crate::spec::config::{Smtp, TlsMode};
use lettre::Address;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, Certificate, TlsParameters};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
use lettre::transport::smtp::extension::{ClientId, MailBodyParameter, MailParameter};
use std::time::Duration;

/// Check the settings that can be checked without a server, before any work is done: a user
/// needs a password, a CA file must be a readable PEM certificate.
pub fn preflight(config: &Smtp) -> Result<(), DeliverError> {
    if config.user.is_some() && config.password.is_none() {
        return Err(DeliverError::Config(format!(
            "`smtp.user` is set in pareto.toml but there is no password: set the environment variable {}",
            config.password_env
        )));
    }
    if let Some(ca) = &config.ca_file {
        let pem = std::fs::read(ca).map_err(|e| DeliverError::Config(format!("cannot read `smtp.ca_file` {}: {e}", ca.display())))?;
        Certificate::from_pem(&pem)
            .map_err(|e| DeliverError::Config(format!("`smtp.ca_file` {} is not a PEM certificate: {e}", ca.display())))?;
    }
    if config.user.is_some() && config.tls == TlsMode::None {
        tracing::warn!("smtp.tls = \"none\" with smtp.user: the password crosses the network in clear text");
    }
    Ok(())
}

/// How one attempt to deliver to one recipient ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The server took the message; its reply.
    Sent(String),
    /// A temporary failure before the message was handed over (a 4xx reply, a refused or
    /// dropped connection, no answer): safe to try again.
    Retry(String),
    /// A permanent refusal of this recipient (5xx).
    Rejected(String),
    /// A failure no retry or other recipient can get past: TLS, authentication, the sender
    /// refused, a server without STARTTLS. Stops the delivery.
    Fatal(String),
    /// The connection was lost after the message was handed over and before the server
    /// answered: it may have arrived. Never retried automatically.
    Unknown(String),
}

/// Hooks around each attempt, for recording progress durably (and for tests to stop a process
/// at an exact step).
pub trait Observer: Send {
    /// An attempt at `recipient` starts.
    fn attempt(&mut self, _recipient: &Address) {}
    /// The message bytes are about to go to the server for `recipient`. `false`: do not hand
    /// them over (the hand-over could not be recorded, so a crash could not tell it happened).
    fn handing(&mut self, _recipient: &Address) -> bool {
        true
    }
    /// The server answered the message for `recipient` (before it is recorded).
    fn answered(&mut self, _recipient: &Address) {}
    /// An attempt at `recipient` ended; a retry waits `_wait` first (when it is `Retry`).
    fn ended(&mut self, _recipient: &Address, _attempt: &Attempt) {}
    /// After a temporary failure (`_why`), retry `_retry` of `_of` for `_recipient` starts in `_wait`.
    fn waiting(&mut self, _recipient: &Address, _why: &str, _wait: Duration, _retry: u32, _of: u32) {}
}

/// An observer that records nothing.
pub struct Quiet;
impl Observer for Quiet {}

/// The final result for one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub recipient: Address,
    /// The last attempt (`Retry` when the retries ran out, `Fatal` when delivery stopped).
    pub attempt: Attempt,
}

/// Deliver `message` to each recipient in its own SMTP envelope, so that one refused address
/// does not stop the others. Temporary failures are retried up to `smtp.retries` times, waiting
/// `smtp.retry_base_secs` doubled each time, with jitter. A fatal failure stops the delivery;
/// recipients not tried by then end as `Fatal` too.
pub async fn send_each(
    config: &Smtp,
    from: Option<&Address>,
    recipients: &[Address],
    message: &[u8],
    observer: &mut dyn Observer,
) -> Vec<Outcome> {
    let mut out = Vec::new();
    let mut fatal: Option<String> = None;
    for rcpt in recipients {
        if let Some(f) = &fatal {
            out.push(Outcome { recipient: rcpt.clone(), attempt: Attempt::Fatal(f.clone()) });
            continue;
        }
        let mut tries = 0;
        let attempt = loop {
            observer.attempt(rcpt);
            let a = send_one(config, from, rcpt, message, observer).await;
            observer.ended(rcpt, &a);
            match &a {
                Attempt::Retry(why) if tries < config.retries => {
                    let wait = backoff(config.retry_base, tries);
                    tracing::info!(recipient = %rcpt, error = %why, wait_ms = wait.as_millis() as u64, "temporary failure; trying again");
                    observer.waiting(rcpt, why, wait, tries + 1, config.retries);
                    tokio::time::sleep(wait).await;
                    tries += 1;
                }
                _ => break a,
            }
        };
        if let Attempt::Fatal(f) = &attempt {
            fatal = Some(f.clone());
        }
        out.push(Outcome { recipient: rcpt.clone(), attempt });
    }
    out
}

/// An attempt's reply or error, as text.
pub fn describe(a: &Attempt) -> String {
    match a {
        Attempt::Sent(t) | Attempt::Retry(t) | Attempt::Rejected(t) | Attempt::Fatal(t) | Attempt::Unknown(t) => t.clone(),
    }
}

/// The wait before retry number `n + 1`: `base · 2ⁿ`, capped at an hour, times a jitter of
/// 0.5 to 1.5 so that many senders do not retry in step.
pub fn backoff(base: Duration, n: u32) -> Duration {
    let exp = base.as_secs_f64() * 2f64.powi(n.min(16) as i32);
    Duration::from_secs_f64(exp.min(3600.0) * (0.5 + fastrand::f64()))
}

/// One attempt at one recipient: connect (TLS as configured, never downgraded), authenticate,
/// then MAIL, RCPT, DATA and the message, each step bounded by `smtp.timeout_secs`.
pub async fn send_one(config: &Smtp, from: Option<&Address>, to: &Address, message: &[u8], observer: &mut dyn Observer) -> Attempt {
    let step = Duration::from_secs(config.timeout_secs);
    let late = |what: &str| format!("no answer to {what} within {}s (`smtp.timeout_secs`)", step.as_secs());
    let server = format!("{}:{}", config.host, config.port);
    let tls_params = match config.tls {
        TlsMode::None => None,
        _ => match tls_parameters(config) {
            Ok(p) => Some(p),
            Err(e) => return Attempt::Fatal(e),
        },
    };
    let hello = ClientId::default();
    let connect = async {
        if config.tls == TlsMode::Tls {
            AsyncSmtpConnection::connect_tokio1((config.host.as_str(), config.port), Some(step), &hello, tls_params.clone(), None)
                .await
                .map_err(Err)
        } else {
            // Our own socket, to turn Nagle's algorithm off: lettre writes the message and its
            // final dot separately, and the second write would wait for a delayed ACK.
            let tcp = tokio::net::TcpStream::connect((config.host.as_str(), config.port)).await.map_err(Ok)?;
            let _ = tcp.set_nodelay(true);
            AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &hello).await.map_err(Err)
        }
    };
    let mut conn = match tokio::time::timeout(step * 2, connect).await {
        Err(_) => return Attempt::Retry(format!("{server}: {}", late("the connection"))),
        Ok(Err(Ok(io))) => {
            return Attempt::Retry(format!(
                "{server}: Connection error: {io}; check `smtp.host` and `smtp.port`, and that the server is up"
            ));
        }
        Ok(Err(Err(e))) => return before_handover(&server, &e, Stage::Connect),
        Ok(Ok(c)) => c,
    };
    let result = async {
        if config.tls == TlsMode::StartTls {
            if !conn.can_starttls() {
                return Attempt::Fatal(format!(
                    "{server}: the server does not offer STARTTLS, and pareto never falls back to plain text; set `smtp.tls = \"tls\"` for port 465, or `none` only for a local relay"
                ));
            }
            let params = tls_params.clone().expect("TLS parameters for STARTTLS");
            match tokio::time::timeout(step, conn.starttls(params, &hello)).await {
                Err(_) => return Attempt::Retry(format!("{server}: {}", late("STARTTLS"))),
                Ok(Err(e)) => return before_handover(&server, &e, Stage::Tls),
                Ok(Ok(())) => {}
            }
        }
        if let Some(user) = &config.user {
            let Some(password) = &config.password else {
                return Attempt::Fatal(format!("`smtp.user` is set but no password: set the environment variable {}", config.password_env));
            };
            let creds = Credentials::new(user.clone(), password.clone());
            match tokio::time::timeout(step, conn.auth(&[Mechanism::Plain, Mechanism::Login], &creds)).await {
                Err(_) => return Attempt::Retry(format!("{server}: {}", late("AUTH"))),
                Ok(Err(e)) => return before_handover(&server, &e, Stage::Auth),
                Ok(Ok(_)) => {}
            }
        }
        let mut options = Vec::new();
        if !AsRef::<str>::as_ref(to).is_ascii() || from.is_some_and(|f| !AsRef::<str>::as_ref(f).is_ascii()) {
            options.push(MailParameter::SmtpUtfEight);
        }
        if !message.is_ascii() {
            options.push(MailParameter::Body(MailBodyParameter::EightBitMime));
        }
        match tokio::time::timeout(step, conn.command(Mail::new(from.cloned(), options))).await {
            Err(_) => return Attempt::Retry(format!("{server}: {}", late("MAIL FROM"))),
            Ok(Err(e)) => return before_handover(&server, &e, Stage::Mail),
            Ok(Ok(_)) => {}
        }
        match tokio::time::timeout(step, conn.command(Rcpt::new(to.clone(), vec![]))).await {
            Err(_) => return Attempt::Retry(format!("{server}: {}", late("RCPT TO"))),
            Ok(Err(e)) => return before_handover(&server, &e, Stage::Rcpt),
            Ok(Ok(_)) => {}
        }
        match tokio::time::timeout(step, conn.command(Data)).await {
            Err(_) => return Attempt::Retry(format!("{server}: {}", late("DATA"))),
            Ok(Err(e)) => return before_handover(&server, &e, Stage::Data),
            Ok(Ok(_)) => {}
        }
        if !observer.handing(to) {
            // Dropping the connection mid-DATA, before the message, leaves the server nothing to deliver.
            return Attempt::Fatal(format!(
                "{to}: not handed over to {server}: the ledger could not record the hand-over, so a crash could not tell whether it was sent"
            ));
        }
        let answer = tokio::time::timeout(step, conn.message(message)).await;
        match answer {
            Err(_) => Attempt::Unknown(format!(
                "{server}: the message was handed over but the server did not answer within {}s; it may have been delivered",
                step.as_secs()
            )),
            Ok(Ok(resp)) => {
                observer.answered(to);
                Attempt::Sent(reply_text(&resp))
            }
            Ok(Err(e)) => match e.status() {
                // The server answered: it did not take the message.
                Some(_) if e.is_transient() => Attempt::Retry(format!("{server}: {}", explain(&e))),
                Some(_) => Attempt::Rejected(format!("{server}: {}", explain(&e))),
                None => Attempt::Unknown(format!(
                    "{server}: the connection was lost after the message was handed over ({}); it may have been delivered",
                    explain(&e)
                )),
            },
        }
    }
    .await;
    if !matches!(result, Attempt::Unknown(_)) {
        let _ = tokio::time::timeout(Duration::from_secs(2), conn.quit()).await;
    }
    result
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Stage {
    Connect,
    Tls,
    Auth,
    Mail,
    Rcpt,
    Data,
}

/// Classify an error before the message was handed over: nothing was delivered, so a temporary
/// one can be retried.
fn before_handover(server: &str, e: &lettre::transport::smtp::Error, stage: Stage) -> Attempt {
    let text = format!("{server}: {}", explain(e));
    if e.is_transient() {
        return Attempt::Retry(text);
    }
    if e.is_permanent() {
        return match stage {
            Stage::Rcpt | Stage::Data => Attempt::Rejected(text),
            _ => Attempt::Fatal(text),
        };
    }
    if e.is_tls() || stage == Stage::Tls {
        return Attempt::Fatal(text);
    }
    // Refused, reset or dropped connections, and unparseable answers: try again later.
    Attempt::Retry(text)
}

fn reply_text(resp: &lettre::transport::smtp::response::Response) -> String {
    format!("{} {}", resp.code(), resp.message().collect::<Vec<_>>().join(" "))
}

fn tls_parameters(config: &Smtp) -> Result<TlsParameters, String> {
    let mut params = TlsParameters::builder(config.host.clone());
    if let Some(ca) = &config.ca_file {
        let pem = std::fs::read(ca).map_err(|e| format!("cannot read `smtp.ca_file` {}: {e}", ca.display()))?;
        let cert = Certificate::from_pem(&pem).map_err(|e| format!("`smtp.ca_file` {} is not a PEM certificate: {e}", ca.display()))?;
        params = params.add_root_certificate(cert);
    }
    params.build_rustls().map_err(|e| format!("TLS set-up failed: {e}"))
}

/// A lettre error with its cause chain and what to do.
fn explain(e: &lettre::transport::smtp::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    let lower = text.to_lowercase();
    let hint = if lower.contains("certificate") || lower.contains("handshake") || lower.contains("tls") || e.is_tls() {
        "; check `smtp.tls` (starttls, tls or none) and `smtp.ca_file` (the CA that signed the server's certificate)"
    } else if e.is_permanent() {
        if let Some(code) = e.status() {
            if code.to_string().starts_with("53") {
                "; check `smtp.user` and the password variable"
            } else {
                "; the server refused the message (permanent): check the addresses and sender"
            }
        } else {
            ""
        }
    } else if e.is_transient() {
        "; the server asked to try again later (temporary)"
    } else if text.contains("Connection refused") || text.contains("connection") || text.contains("Connection") {
        "; check `smtp.host` and `smtp.port`, and that the server is up"
    } else {
        ""
    };
    format!("{text}{hint}")
}

//! Delivery over SMTP with lettre: STARTTLS, implicit TLS or plain, with AUTH and a timeout on
//! the whole exchange.

use super::{Built, DeliverError};
use crate::spec::config::{Smtp, TlsMode};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
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

/// Send `message` through the configured server. Returns the server's reply to the message.
pub async fn send(config: &Smtp, message: &Built) -> Result<String, DeliverError> {
    let server = format!("{}:{}", config.host, config.port);
    let fail = |message: String| DeliverError::Smtp { server: server.clone(), message };
    let tls = match config.tls {
        TlsMode::None => Tls::None,
        mode => {
            let mut params = TlsParameters::builder(config.host.clone());
            if let Some(ca) = &config.ca_file {
                let pem = std::fs::read(ca).map_err(|e| fail(format!("cannot read `smtp.ca_file` {}: {e}", ca.display())))?;
                let cert = Certificate::from_pem(&pem)
                    .map_err(|e| fail(format!("`smtp.ca_file` {} is not a PEM certificate: {e}", ca.display())))?;
                params = params.add_root_certificate(cert);
            }
            let params = params.build_rustls().map_err(|e| fail(format!("TLS set-up failed: {e}")))?;
            if mode == TlsMode::Tls { Tls::Wrapper(params) } else { Tls::Required(params) }
        }
    };
    let timeout = Duration::from_secs(config.timeout_secs);
    let mut builder =
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(config.host.as_str()).port(config.port).tls(tls).timeout(Some(timeout));
    if let Some(user) = &config.user {
        let Some(password) = &config.password else {
            return Err(fail(format!("`smtp.user` is set but no password: set the environment variable {}", config.password_env)));
        };
        builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
    }
    let transport = builder.build();
    // lettre's own timeout covers connecting and each read; this one bounds the whole exchange.
    let sent = tokio::time::timeout(timeout * 3, transport.send_raw(&message.envelope, &message.bytes))
        .await
        .map_err(|_| fail(format!("no answer within {}s; check the host and port, or raise `smtp.timeout_secs`", timeout.as_secs() * 3)))?;
    match sent {
        Ok(resp) => Ok(format!("{} {}", resp.code(), resp.message().collect::<Vec<_>>().join(" "))),
        Err(e) => Err(fail(explain(&e))),
    }
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

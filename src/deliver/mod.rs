//! The email: a MIME message built from a rendered report (multipart/alternative, CSV
//! attachments, a stable Message-ID), and the transports that deliver it.

pub mod smtp;

use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart};
use lettre::{Address, Message};
use std::time::SystemTime;

/// Why an email could not be built or sent.
#[derive(Debug, thiserror::Error)]
pub enum DeliverError {
    #[error("no sender: set `from = \"Reports <reports@example.com>\"` in pareto.toml or PARETO_FROM")]
    NoSender,
    #[error("{0}")]
    Config(String),
    #[error("cannot build the email: {0}")]
    Build(String),
    #[error("SMTP server {server}: {message}")]
    Smtp { server: String, message: String },
}

/// Everything that goes into the message.
pub struct Draft<'a> {
    pub from: &'a Mailbox,
    pub reply_to: Option<&'a Mailbox>,
    pub to: &'a [Mailbox],
    pub cc: &'a [Mailbox],
    pub bcc: &'a [Mailbox],
    pub subject: &'a str,
    pub html: String,
    pub text: String,
    /// (file name, CSV bytes)
    pub attachments: Vec<(String, Vec<u8>)>,
    pub message_id: String,
    pub date: SystemTime,
}

/// A built message: the exact bytes to send and archive, and who receives them.
pub struct Built {
    pub bytes: Vec<u8>,
    pub envelope: lettre::address::Envelope,
}

/// The Message-ID for a job's period: the same on every run of that period, so a resend is
/// recognisable and mail clients thread it.
pub fn message_id(job: &str, period_label: &str, from: &Mailbox) -> String {
    format!("<pareto.{job}.{period_label}@{}>", from.email.domain())
}

/// Build the MIME message.
pub fn build(d: Draft) -> Result<Built, DeliverError> {
    let mut b = Message::builder()
        .from(d.from.clone())
        .subject(d.subject)
        .date(d.date)
        .message_id(Some(d.message_id.clone()))
        .user_agent(format!("pareto {}", env!("CARGO_PKG_VERSION")));
    if let Some(r) = d.reply_to {
        b = b.reply_to(r.clone());
    }
    for m in d.to {
        b = b.to(m.clone());
    }
    for m in d.cc {
        b = b.cc(m.clone());
    }
    for m in d.bcc {
        b = b.bcc(m.clone());
    }
    let alternative = MultiPart::alternative_plain_html(d.text, d.html);
    let body = if d.attachments.is_empty() {
        alternative
    } else {
        let csv = ContentType::parse("text/csv; charset=utf-8").expect("valid content type");
        d.attachments.into_iter().fold(MultiPart::mixed().multipart(alternative), |m, (name, bytes)| {
            m.singlepart(Attachment::new(name).body(bytes, csv.clone()))
        })
    };
    let message = b.multipart(body).map_err(|e| DeliverError::Build(e.to_string()))?;
    Ok(Built { bytes: message.formatted(), envelope: message.envelope().clone() })
}

/// Replace the recipients of a built message's envelope (for `--to`).
pub fn readdress(envelope: &lettre::address::Envelope, to: &[Address]) -> Result<lettre::address::Envelope, DeliverError> {
    lettre::address::Envelope::new(envelope.from().cloned(), to.to_vec()).map_err(|e| DeliverError::Build(e.to_string()))
}

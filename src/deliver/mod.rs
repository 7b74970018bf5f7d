//! The email: a MIME message built from a rendered report (multipart/alternative, inline charts,
//! CSV and XLSX attachments, a stable Message-ID), and the transports that deliver it.

pub mod smtp;

use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Attachment, Body, Mailbox, MultiPart};
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
    /// Charts the HTML shows: (Content-ID, file name, PNG bytes), inline parts beside it.
    pub images: Vec<(String, String, Vec<u8>)>,
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
    let alternative = MultiPart::alternative_plain_html(mail_text(&d.text), mail_text(&d.html));
    // Charts go beside the two parts in a multipart/related, each an inline part the HTML names
    // by its Content-ID (`cid:`): shown by every client, unlike data: URIs or remote images.
    let alternative = if d.images.is_empty() {
        alternative
    } else {
        let png = ContentType::parse("image/png").expect("valid content type");
        d.images.into_iter().fold(MultiPart::related().multipart(alternative), |m, (cid, name, bytes)| {
            let body = Body::new_with_encoding(bytes, ContentTransferEncoding::Base64).expect("base64 encodes any bytes");
            m.singlepart(Attachment::new_inline_with_name(cid, name).body(body, png.clone()))
        })
    };
    let body = if d.attachments.is_empty() {
        alternative
    } else {
        let csv = ContentType::parse("text/csv; charset=utf-8").expect("valid content type");
        let xlsx = ContentType::parse("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet").expect("valid content type");
        d.attachments.into_iter().fold(MultiPart::mixed().multipart(alternative), |m, (name, bytes)| {
            let kind = if name.ends_with(".xlsx") { xlsx.clone() } else { csv.clone() };
            // Attachments hold lake data, which may contain any byte: base64 keeps every line of
            // the SMTP stream short and CRLF-terminated, so no value can end the message early
            // (SMTP smuggling) or make a strict server refuse it ("line too long").
            let body = Body::new_with_encoding(bytes, ContentTransferEncoding::Base64).expect("base64 encodes any bytes");
            m.singlepart(Attachment::new(name).body(body, kind))
        })
    };
    let message = b.multipart(body).map_err(|e| DeliverError::Build(e.to_string()))?;
    Ok(Built { bytes: message.formatted(), envelope: message.envelope().clone() })
}

/// Text fit for a message part: line breaks are `\n` only (lettre makes each one CRLF), a lone
/// CR becomes a line break, and other control characters but tab are dropped. A value from the
/// lake can then neither end the message early on a relay that treats a bare CR or LF as a line
/// end (SMTP smuggling) nor put invisible bytes in the report.
pub fn mail_text(s: &str) -> String {
    if !s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() != Some(&'\n') {
                    out.push('\n');
                }
            }
            '\n' | '\t' => out.push(c),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Replace the recipients of a built message's envelope (for `--to`).
pub fn readdress(envelope: &lettre::address::Envelope, to: &[Address]) -> Result<lettre::address::Envelope, DeliverError> {
    lettre::address::Envelope::new(envelope.from().cloned(), to.to_vec()).map_err(|e| DeliverError::Build(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mail_text_keeps_lines_and_drops_stray_controls() {
        assert_eq!(mail_text("a\r\nb\rc\n.\r\nd\u{0}e\u{7}\tf"), "a\nb\nc\n.\nde\tf");
        assert_eq!(mail_text("plain € text\n"), "plain € text\n");
    }
}

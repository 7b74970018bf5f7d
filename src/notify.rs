//! Notices to a job's owners: its report was held, failed, may not have arrived, or periods
//! were skipped. Sent once per run and outcome (the ledger remembers), never per retry.

use crate::deliver::{self, Draft, smtp};
use crate::spec::config::Config;
use crate::spec::job::Job;
use lettre::message::Mailbox;

/// Email `job`'s owners. `kind` names the notice in its Message-ID (`held`, `failed`, …).
/// Returns what happened, as a line for `run.json` and the console: `owners told: 250 …`.
pub async fn owners(config: &Config, job: &Job, period_label: &str, kind: &str, subject: &str, text: &str) -> String {
    if job.owners.is_empty() {
        return format!("no owners to tell (add `owners` to {})", job.file.display());
    }
    let from: Mailbox = match &config.from {
        Some(f) => f.clone(),
        None => return "could not tell the owners: no sender (`from` in pareto.toml)".into(),
    };
    // Errors quote URLs and server answers: no credential goes out in a notice.
    let (subject, text) = (&*crate::secrets::redact(subject), &*crate::secrets::redact(text));
    let html = format!("<pre style=\"font-family:monospace;font-size:13px\">{}</pre>", handlebars::html_escape(text));
    let built = deliver::build(Draft {
        from: &from,
        reply_to: config.reply_to.as_ref(),
        to: &job.owners,
        cc: &[],
        bcc: &[],
        subject,
        html,
        text: text.to_string(),
        attachments: Vec::new(),
        images: Vec::new(),
        message_id: format!("<pareto.{}.{period_label}.{kind}@{}>", job.name, from.email.domain()),
        date: std::time::SystemTime::now(),
    });
    let built = match built {
        Ok(b) => b,
        Err(e) => return format!("could not build the notice: {e}"),
    };
    let outcomes = smtp::send_each(&config.smtp, built.envelope.from(), built.envelope.to(), &built.bytes, &mut smtp::Quiet).await;
    let mut told = Vec::new();
    let mut not = Vec::new();
    for o in &outcomes {
        match &o.attempt {
            smtp::Attempt::Sent(reply) => told.push(reply.clone()),
            a => not.push(format!("{}: {}", o.recipient, smtp::describe(a))),
        }
    }
    if !not.is_empty() {
        // The caller reports it (the daemon as a warning, `pareto run` on stderr).
        tracing::debug!(problems = %not.join("; "), "could not tell the owners");
        format!("could not tell the owners: {}", not.join("; "))
    } else {
        format!("owners told: {}", told.join("; "))
    }
}

/// Whether `owners` reported success.
pub fn told(line: &str) -> bool {
    line.starts_with("owners told")
}

//! Secrets kept out of logs: the SMTP password and the object stores' keys are registered here
//! when they are read, and the log writer replaces each of them, in plain text and in the
//! encodings SMTP AUTH uses (base64 for LOGIN, `\0user\0password` in base64 for PLAIN), with
//! `[redacted]`. The first line of defence is that nothing logs them (lettre's own tracing,
//! which logs the AUTH exchange and whole messages, is not compiled in); this one catches what a
//! dependency might log at `debug` or `trace`.

use base64::Engine;
use std::io::Write;
use std::sync::RwLock;

/// What replaces a secret in the log.
pub const REDACTED: &str = "[redacted]";

/// Secrets shorter than this are not redacted: replacing every `ab` in a log would hide more
/// than it protects, and no real password or key is that short.
const MIN_LEN: usize = 6;

/// Environment variables that hold object-store credentials (read by object_store's builders).
const ENV_SECRETS: &[&str] = &[
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AZURE_STORAGE_ACCOUNT_KEY",
    "AZURE_STORAGE_ACCESS_KEY",
    "AZURE_STORAGE_MASTER_KEY",
    "AZURE_CLIENT_SECRET",
    "AZURE_STORAGE_SAS_KEY",
    "AZURE_STORAGE_TOKEN",
    "GOOGLE_SERVICE_ACCOUNT_KEY",
];

static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

fn add(form: String) {
    if form.len() < MIN_LEN {
        return;
    }
    let mut all = SECRETS.write().unwrap_or_else(|e| e.into_inner());
    if !all.contains(&form) {
        all.push(form);
        // Longest first, so a secret that contains another is replaced whole.
        all.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }
}

/// Keep `secret` out of the log, with its base64 form (AUTH LOGIN).
pub fn register(secret: &str) {
    if secret.len() < MIN_LEN {
        return;
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    add(secret.to_string());
    add(b64.encode(secret));
    add(url::form_urlencoded::byte_serialize(secret.as_bytes()).collect());
}

/// Keep an SMTP password out of the log, with every form AUTH sends it in for `user`.
pub fn register_smtp(user: Option<&str>, password: &str) {
    register(password);
    if password.len() < MIN_LEN {
        return;
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    if let Some(user) = user {
        add(b64.encode(format!("\0{user}\0{password}")));
        add(b64.encode(format!("{user}\0{user}\0{password}")));
    }
}

/// Register the object-store credentials found in the environment.
pub fn register_env() {
    for name in ENV_SECRETS {
        if let Ok(v) = std::env::var(name) {
            register(&v);
        }
    }
}

/// `text` with every registered secret replaced.
pub fn redact(text: &str) -> std::borrow::Cow<'_, str> {
    let all = SECRETS.read().unwrap_or_else(|e| e.into_inner());
    if !all.iter().any(|s| text.contains(s.as_str())) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = text.to_string();
    for s in all.iter() {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), REDACTED);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// A log writer: collects one event's output and writes it to stderr with the secrets replaced.
pub struct Stderr {
    buf: Vec<u8>,
}

impl Stderr {
    pub fn new() -> Stderr {
        Stderr { buf: Vec::new() }
    }
}

impl Default for Stderr {
    fn default() -> Self {
        Stderr::new()
    }
}

impl Write for Stderr {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&self.buf);
        let clean = redact(&text);
        let result = std::io::stderr().lock().write_all(clean.as_bytes());
        self.buf.clear();
        result
    }
}

impl Drop for Stderr {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_plain_and_auth_forms() {
        register_smtp(Some("reports"), "s3cret-Passw0rd");
        let b64 = base64::engine::general_purpose::STANDARD;
        let plain = b64.encode("\0reports\0s3cret-Passw0rd");
        let login = b64.encode("s3cret-Passw0rd");
        let line = format!("AUTH PLAIN {plain} / {login} / pw=s3cret-Passw0rd / s3cret-Passw0rd!");
        assert_eq!(redact(&line), "AUTH PLAIN [redacted] / [redacted] / pw=[redacted] / [redacted]!");
        assert_eq!(redact("nothing here"), "nothing here");
        // Too short to redact safely.
        register("abc");
        assert_eq!(redact("abcabc"), "abcabc");
    }
}

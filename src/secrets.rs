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

/// Keep the secrets a lake URL carries out of every log and record: the password of its
/// userinfo (`https://user:token@host/…`) and the values of its query string (SAS tokens and
/// signed-URL signatures live there). Returns the URL as it may be shown, with them replaced.
/// Text that is not a URL with a scheme is returned as it is.
pub fn register_url(spec: &str) -> String {
    let Some((scheme, _)) = spec.split_once("://") else { return spec.to_string() };
    if scheme == "file" {
        return spec.to_string();
    }
    let Ok(mut url) = url::Url::parse(spec) else {
        // Not parseable (the lake reports that); still hide what looks like userinfo.
        return hide_userinfo(spec);
    };
    let mut changed = false;
    if let Some(pw) = url.password().map(str::to_string) {
        register(&pw);
        // As written in the URL (percent-encoded) and as sent.
        let decoded = url::form_urlencoded::parse(format!("p={}", pw.replace('+', "%2B")).as_bytes()).map(|(_, v)| v.into_owned()).next();
        register(&decoded.unwrap_or_default());
        let _ = url.set_password(Some(REDACTED));
        changed = true;
    }
    if url.query().is_some() {
        let pairs: Vec<(String, String)> = url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        for (_, v) in &pairs {
            register(v);
        }
        let mut shown = url.query_pairs_mut();
        shown.clear();
        for (k, v) in &pairs {
            shown.append_pair(k, if v.is_empty() { "" } else { REDACTED });
        }
        drop(shown);
        changed = true;
    }
    if !changed {
        return spec.to_string();
    }
    // `[redacted]` is percent-encoded by the URL writer; show it as written.
    url.as_str().replace("%5Bredacted%5D", REDACTED)
}

/// `scheme://user:password@rest` with the password hidden, for text that is not a valid URL.
fn hide_userinfo(spec: &str) -> String {
    let Some((scheme, rest)) = spec.split_once("://") else { return spec.to_string() };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => {
            let userinfo = &rest[..at];
            let user = userinfo.split_once(':').map_or(userinfo, |(u, pw)| {
                register(pw);
                u
            });
            format!("{scheme}://{user}:{REDACTED}{}", &rest[at..])
        }
        None => spec.to_string(),
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

    #[test]
    fn a_lake_url_shows_without_its_credentials() {
        let shown = register_url("https://reader:tok%2Fen-123456@lake.example.com/data/?sv=2024&sig=Zm9vYmFyYmF6cXV4&se=2027-01-01");
        assert_eq!(shown, "https://reader:[redacted]@lake.example.com/data/?sv=[redacted]&sig=[redacted]&se=[redacted]");
        // The password as written and decoded, and every query value, are redacted from then on.
        assert_eq!(redact("GET https://reader:tok%2Fen-123456@lake.example.com"), "GET https://reader:[redacted]@lake.example.com");
        assert_eq!(redact("token tok/en-123456, signature Zm9vYmFyYmF6cXV4"), "token [redacted], signature [redacted]");
        assert_eq!(register_url("s3://bucket/lake/"), "s3://bucket/lake/");
        assert_eq!(register_url("lake"), "lake");
        assert_eq!(register_url("https://u:pa ss word@bad host/"), "https://u:[redacted]@bad host/");
    }
}

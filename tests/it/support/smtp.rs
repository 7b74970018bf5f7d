//! A real SMTP server (Python's aiosmtpd) on a free loopback port, recording what it accepts.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

#[derive(Default, Clone)]
pub struct Options {
    /// "none", "starttls" or "tls".
    pub tls: &'static str,
    pub user: Option<(&'static str, &'static str)>,
    pub reject_rcpt: Vec<&'static str>,
    pub data_reply: Option<&'static str>,
    /// `STEP=REPLY[*COUNT]`: answer STEP (mail, rcpt, data) with REPLY, the first COUNT times.
    pub faults: Vec<&'static str>,
    /// `STEP=SECONDS[*COUNT]`: wait before answering STEP (mail, rcpt, `rcpt:ADDRESS` for one
    /// recipient, data, after-data).
    pub stalls: Vec<&'static str>,
    /// Read a bare LF as a line end, as relays open to SMTP smuggling did.
    pub lax_line_ends: bool,
    /// Refuse a message with a bare CR or LF or a line over 998 octets (a permanent 5xx).
    pub strict_lines: bool,
}

pub struct SmtpServer {
    child: Child,
    pub port: u16,
    pub dir: PathBuf,
    _tmp: tempfile::TempDir,
}

/// One message the server accepted.
pub struct Received {
    pub raw: Vec<u8>,
    pub mail_from: String,
    pub rcpt_tos: Vec<String>,
    pub tls: bool,
    pub auth: bool,
}

impl SmtpServer {
    pub fn start(o: Options) -> SmtpServer {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let port = super::free_port();
        let script = Path::new(super::REPO).join("tests/it/support/smtpd.py");
        let mut cmd = Command::new("python3");
        cmd.arg(script).arg("--port").arg(port.to_string()).arg("--out").arg(&dir).arg("--tls").arg(if o.tls.is_empty() {
            "none"
        } else {
            o.tls
        });
        if let Some((u, p)) = o.user {
            cmd.args(["--user", u, "--password", p]);
        }
        for r in &o.reject_rcpt {
            cmd.args(["--reject-rcpt", r]);
        }
        if let Some(d) = o.data_reply {
            cmd.args(["--data-reply", d]);
        }
        for f in &o.faults {
            cmd.args(["--fault", f]);
        }
        for s in &o.stalls {
            cmd.args(["--stall", s]);
        }
        if o.lax_line_ends {
            cmd.arg("--lax-line-ends");
        }
        if o.strict_lines {
            cmd.arg("--strict-lines");
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start python3 aiosmtpd (run the README's test command to install it)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "READY", "aiosmtpd did not start; is it installed? (pip install aiosmtpd)");
        // READY comes after the controller has answered its own probe; check the port anyway.
        let ready = (0..100).any(|_| {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() || {
                std::thread::sleep(std::time::Duration::from_millis(50));
                false
            }
        });
        assert!(ready, "aiosmtpd said READY but port {port} does not accept connections");
        SmtpServer { child, port, dir, _tmp: tmp }
    }

    /// The throwaway CA that signed the server's certificate (TLS modes only).
    pub fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// Messages accepted so far, in order.
    pub fn received(&self) -> Vec<Received> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect();
        names.sort();
        names
            .into_iter()
            .map(|p| {
                let meta: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(p.with_extension("json")).unwrap()).unwrap();
                Received {
                    raw: std::fs::read(&p).unwrap(),
                    mail_from: meta["mail_from"].as_str().unwrap().to_string(),
                    rcpt_tos: meta["rcpt_tos"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect(),
                    tls: meta["tls"].as_bool().unwrap(),
                    auth: meta["auth"].as_bool().unwrap_or(false),
                }
            })
            .collect()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

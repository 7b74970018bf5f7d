//! Test harness: temp projects run with the real `pareto` binary, a hand-made lake, and real
//! servers (aiosmtpd for SMTP, moto for S3) on loopback.

pub mod cluster;
pub mod daemon;
pub mod lake;
pub mod moto;
pub mod smtp;

use std::path::{Path, PathBuf};
use std::process::Command;

pub const BIN: &str = env!("CARGO_BIN_EXE_pareto");
pub const REPO: &str = env!("CARGO_MANIFEST_DIR");

/// What a `pareto` run printed and how it exited.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    /// Panic with everything printed unless the exit code is `code`.
    #[track_caller]
    pub fn expect(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "exit code\n--- stdout\n{}\n--- stderr\n{}", self.stdout, self.stderr);
        self
    }
}

/// A project folder in a temp dir.
pub struct TestProject {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
    env: Vec<(String, String)>,
}

/// `pareto.toml` pointing at an SMTP server on `port` without TLS.
pub fn config(port: u16, extra_smtp: &str) -> String {
    format!(
        r#"from = "Pareto Reports <reports@example.com>"
reply_to = "Data Team <data@example.com>"
archive = "archive"

[smtp]
host = "127.0.0.1"
port = {port}
tls = "none"
timeout_secs = 5
retry_base_secs = 0.01
{extra_smtp}

[defaults]
lake = "lake"
timezone = "Europe/Amsterdam"
currency = "EUR"
"#
    )
}

impl TestProject {
    /// An empty project whose SMTP settings point at a port nothing listens on.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().canonicalize().unwrap();
        let p = TestProject { _dir: dir, root, env: Vec::new() };
        p.file("pareto.toml", &config(closed_port(), ""));
        p
    }

    /// A project holding the repository's bundled jobs, queries and templates.
    pub fn bundled() -> Self {
        let p = Self::new();
        for dir in ["jobs", "queries", "templates"] {
            copy_dir(&Path::new(REPO).join(dir), &p.root.join(dir));
        }
        p
    }

    /// Write a file (creating folders).
    pub fn file(&self, rel: &str, text: &str) -> &Self {
        let path = self.root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
        self
    }

    pub fn env(&mut self, k: &str, v: &str) -> &mut Self {
        self.env.push((k.into(), v.into()));
        self
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.root.join(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
    }

    /// An archived result as the template sees it (`{columns, rows, row_count}`): from
    /// `<results>/<query>.json` when the run wrote one (the job's own queries), else from the
    /// Parquet file every result is archived as. `results` is relative to the project.
    pub fn result(&self, results: &str, query: &str) -> serde_json::Value {
        let json = self.root.join(results).join(format!("{query}.json"));
        if json.is_file() {
            return serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        }
        let parquet = self.root.join(results).join(format!("{query}.parquet"));
        let r = pareto::results::read_parquet(&parquet).unwrap_or_else(|e| panic!("read {}: {e}", parquet.display()));
        pareto::results::to_json(&r)
    }

    /// Run `pareto ARGS` in the project folder.
    pub fn run(&self, args: &[&str]) -> Out {
        let mut cmd = Command::new(BIN);
        cmd.args(args).current_dir(&self.root).env_remove("PARETO_LOG");
        for k in [
            "PARETO_SMTP_HOST",
            "PARETO_SMTP_PORT",
            "PARETO_SMTP_TLS",
            "PARETO_SMTP_USER",
            "PARETO_SMTP_PASSWORD",
            "PARETO_FROM",
            "PARETO_LAKE",
            "PARETO_ARCHIVE",
            "PARETO_PROJECT",
        ] {
            cmd.env_remove(k);
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let o = cmd.output().expect("run pareto");
        Out {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into(),
            stderr: String::from_utf8_lossy(&o.stderr).into(),
        }
    }
}

/// A loopback port nothing listens on: port 1 (tcpmux) is privileged and unused, so connecting
/// is refused at once, and no other test can take it.
pub fn closed_port() -> u16 {
    1
}

/// A free loopback port for a test server. It comes from below the kernel's ephemeral range
/// (32768 and up on Linux), where the client side of every connection the tests make takes its
/// port: a port picked there (as binding port 0 does) could be taken by an outgoing connection
/// between this check and the server's own bind (aiosmtpd then failed with "address already in
/// use"). Each port is handed out once per test run, so two servers never get the same one.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<std::collections::BTreeSet<u16>> = std::sync::Mutex::new(std::collections::BTreeSet::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let port = 20_000 + fastrand::u16(..12_000);
        if !given.contains(&port) && std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            given.insert(port);
            return port;
        }
    }
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

/// Assert two byte strings are equal, showing where they first differ (not every byte).
#[track_caller]
pub fn same_bytes(got: &[u8], want: &[u8]) {
    if got != want {
        let at = got.iter().zip(want).position(|(a, b)| a != b).unwrap_or(got.len().min(want.len()));
        let show = |b: &[u8]| String::from_utf8_lossy(&b[at.saturating_sub(60)..(at + 60).min(b.len())]).to_string();
        panic!("bytes differ at {at} (lengths {} and {}):\n--- got\n{}\n--- want\n{}", got.len(), want.len(), show(got), show(want));
    }
}

/// Compare a JSON row with expected values: numbers within 1e-9 (floats), everything else exactly.
#[track_caller]
pub fn same(row: &serde_json::Value, expected: serde_json::Value) {
    for (k, want) in expected.as_object().unwrap() {
        let got = &row[k];
        match (got.as_f64(), want.as_f64()) {
            (Some(g), Some(w)) => assert!((g - w).abs() < 1e-9, "{k}: got {g}, want {w} in {row}"),
            _ => assert_eq!(got, want, "{k} in {row}"),
        }
    }
}

/// What openpyxl (an independent reader) sees in an .xlsx file: the sheet's name, frozen cell and
/// filter, and every cell as `[value, type, number format]` (type `s` text, `n` number, `d` date,
/// `b` boolean, `f` formula), with the header row's boldness.
pub fn read_xlsx(path: &Path) -> serde_json::Value {
    let script = r#"
import json, sys, openpyxl
wb = openpyxl.load_workbook(sys.argv[1])
ws = wb.active
rows = [[[c.value.isoformat() if hasattr(c.value, "isoformat") else c.value, c.data_type, c.number_format] for c in r] for r in ws.iter_rows()]
print(json.dumps({"sheet": ws.title, "freeze": ws.freeze_panes, "filter": ws.auto_filter.ref,
                  "bold": [c.font.b for c in ws[1]], "rows": rows}))
"#;
    let o = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(path)
        .output()
        .expect("python3 with openpyxl (.ci/test installs it)");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// Every file of a run folder, by path relative to it.
pub fn files(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("read {}: {e}", d.display())) {
            let path = e.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else {
                out.insert(path.strip_prefix(dir).unwrap().display().to_string(), std::fs::read(&path).unwrap());
            }
        }
    }
    out
}

/// Two run folders hold the same run: the same files, each byte for byte, but for the run's own
/// record and the message's Date header (`run.json`, `message.eml`) and Parquet results, which
/// hold the same schema and rows (an intermediate result has no order of its own).
#[track_caller]
pub fn same_run(got: &std::collections::BTreeMap<String, Vec<u8>>, want: &std::collections::BTreeMap<String, Vec<u8>>, how: &str) {
    assert_eq!(got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>(), "the run's files {how}");
    for (name, bytes) in want {
        match name.rsplit('/').next().unwrap_or(name) {
            "run.json" | "message.eml" => continue,
            n if n.ends_with(".parquet") => {
                let rows = |b: &[u8]| {
                    let path = std::env::temp_dir().join(format!("pareto-test-{}-{}", std::process::id(), n.replace('/', "_")));
                    std::fs::write(&path, b).unwrap();
                    let r = pareto::results::read_parquet(&path).unwrap();
                    std::fs::remove_file(&path).unwrap();
                    let mut rows: Vec<String> = pareto::results::rows(&r.batches).iter().map(|v| v.to_string()).collect();
                    rows.sort();
                    (r.schema, rows)
                };
                assert!(rows(bytes) == rows(&got[name]), "{name} differs {how}");
            }
            _ => {
                if got[name] != *bytes {
                    panic!("{name} differs {how}");
                }
            }
        }
    }
}

/// Start `cmd` with its stderr collected line by line (stdout dropped).
pub fn spawn_collecting(mut cmd: Command, what: &str) -> (std::process::Child, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::BufRead;
    let mut child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {what}: {e}"));
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let stderr = child.stderr.take().unwrap();
    let sink = lines.clone();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    (child, lines)
}

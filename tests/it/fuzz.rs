//! A bounded fuzz run, in every test run: the job-file and pareto.toml parsers and the template
//! helpers get thousands of inputs mutated from the bundled project (values swapped for hostile
//! ones, lines dropped, doubled, cut or flipped). Whatever the input, the answer is a value or a
//! list of problems, never a panic. (cargo-fuzz needs a nightly toolchain, which CI does not
//! have; this runs the same entry points on stable with a seeded mutator, so a failure names
//! the seed and the input that found it.)

use pareto::render::Templates;
use pareto::spec::{config, job};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

const ROUNDS: usize = 3000;

/// Values a careless or hostile author might write.
const VALUES: &[&str] = &[
    "\"\"",
    "0",
    "-1",
    "1e309",
    "-0.0",
    "nan",
    "inf",
    "-inf",
    "9223372036854775807",
    "18446744073709551616",
    "1.5",
    "true",
    "\"9999999999999h\"",
    "\"0h\"",
    "\"-5d\"",
    "\"36h\"",
    "\"1GiB\"",
    "\"0B\"",
    "\"18446744073709551616B\"",
    "\"999999PiB\"",
    "\"* * * * * * *\"",
    "\"61 25 * * *\"",
    "\"0 6 31 2 *\"",
    "\"@yearly\"",
    "\"Mars/Phobos\"",
    "\"UTC\"",
    "\"year\"",
    "\"minute\"",
    "[]",
    "[\"\"]",
    "[\"a@\"]",
    "[\"<a@b.c>\"]",
    "[\"x@example.com\", \"x@example.com\"]",
    "{}",
    "{ orders = \"1d\" }",
    "{ nope = \"1d\" }",
    "\"\\u0000\"",
    "\"é🙂\\r\\n.\\r\\n\"",
    "\"{{#each}}\"",
    "\"../../etc/passwd\"",
    "\"s3://b/p?sig=x\"",
    "\"latest\"",
    "\"none\"",
    "4294967296",
    "[[1]]",
    "{ a = { b = 1 } }",
    "\"2026-13-45\"",
    "\"%Q%\"",
];

/// A tiny xorshift generator: the same seed gives the same inputs on every machine.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// `base` changed in one to four ways.
fn mutate(rng: &mut Rng, base: &str, keys: &[String]) -> String {
    let mut lines: Vec<String> = base.lines().map(String::from).collect();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(lines.len() + 1);
        match rng.below(8) {
            0 | 1 => {
                // Replace a value.
                if let Some(line) = lines.get_mut(at) {
                    if let Some((k, _)) = line.split_once('=') {
                        *line = format!("{k}= {}", VALUES[rng.below(VALUES.len())]);
                    }
                }
            }
            2 => lines.insert(at, format!("{} = {}", keys[rng.below(keys.len())], VALUES[rng.below(VALUES.len())])),
            3 if at < lines.len() => {
                lines.remove(at);
            }
            4 if at < lines.len() => {
                let l = lines[at].clone();
                lines.insert(at, l);
            }
            5 => {
                // Flip a character.
                if let Some(line) = lines.get_mut(at) {
                    let mut chars: Vec<char> = line.chars().collect();
                    if !chars.is_empty() {
                        let i = rng.below(chars.len());
                        chars[i] = ['"', '[', ']', '{', '=', '\\', '\n', '\u{0}', '#', 'é'][rng.below(10)];
                        *line = chars.into_iter().collect();
                    }
                }
            }
            6 => lines.truncate(at),
            _ => lines.insert(at, format!("[{}]", keys[rng.below(keys.len())])),
        }
    }
    lines.join("\n")
}

/// The keys written in `texts` (left of `=`), and the tables.
fn keys(texts: &[&str]) -> Vec<String> {
    let mut out = BTreeSet::new();
    for t in texts {
        for line in t.lines() {
            let line = line.trim();
            if let Some((k, _)) = line.split_once('=') {
                if !k.trim().is_empty() && !k.trim_start().starts_with('#') {
                    out.insert(k.trim().to_string());
                }
            } else if line.starts_with('[') && line.ends_with(']') {
                out.insert(line.trim_matches(|c| c == '[' || c == ']').to_string());
            }
        }
    }
    out.into_iter().collect()
}

#[track_caller]
fn no_panic(what: &str, seed: u64, input: &str, f: impl FnOnce()) {
    if catch_unwind(AssertUnwindSafe(f)).is_err() {
        panic!("{what} panicked (seed {seed}) on input:\n-----\n{input}\n-----");
    }
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_job_and_config_parsers_never_panic() {
    let root = tempfile::tempdir().unwrap();
    let config_text = crate::support::config(2525, "user = \"reports\"\npassword_env = \"PARETO_FUZZ_NO_SUCH_VAR\"");
    let config_text = format!(
        "{config_text}\n[render]\nstrict = true\nmax_rows = 100\n\n[lake]\ntimeout_secs = 60\nmemory_limit = \"1GiB\"\nparallel_queries = 2\n\n[serve]\nstatus = \"127.0.0.1:9187\"\ngrace_secs = 30\n"
    );
    let env = BTreeMap::new();
    let base = config::from_text(root.path(), Some(&config_text), &env).unwrap_or_else(|ps| panic!("{ps:?}"));
    let names = |dir: &str, ext: &str| -> BTreeSet<String> {
        std::fs::read_dir(repo().join(dir))
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().to_str()?.strip_suffix(ext).map(String::from))
            .collect()
    };
    let queries = names("queries", ".sql");
    let templates: BTreeSet<String> = names("templates", ".html.hbs");
    let known = job::Known { queries: &queries, templates: &templates };
    let jobs: Vec<String> = ["weekly-leadership", "monthly-segment-review", "daily-support-alerts"]
        .iter()
        .map(|j| std::fs::read_to_string(repo().join(format!("jobs/{j}.toml"))).unwrap())
        .collect();
    for j in &jobs {
        job::from_text(j, Path::new("jobs/x.toml"), &base, &known).unwrap_or_else(|ps| panic!("the bundled job is valid: {ps:?}"));
    }
    let mut all: Vec<&str> = jobs.iter().map(String::as_str).collect();
    all.push(&config_text);
    let keys = keys(&all);

    let seed = 0x5eed_f00d_u64;
    let mut rng = Rng(seed);
    let (mut ok, mut refused) = (0, 0);
    for round in 0..ROUNDS {
        let input = mutate(&mut rng, &jobs[round % jobs.len()], &keys);
        no_panic("job::from_text", seed, &input, || match job::from_text(&input, Path::new("jobs/x.toml"), &base, &known) {
            Ok(_) => ok += 1,
            Err(ps) => {
                assert!(!ps.is_empty(), "a refusal names a problem");
                refused += 1;
            }
        });
        let input = mutate(&mut rng, &config_text, &keys);
        no_panic("config::from_text", seed, &input, || {
            let _ = config::from_text(root.path(), Some(&input), &env);
        });
    }
    // The mutator reaches both sides: inputs that parse and inputs that are refused.
    assert!(ok > ROUNDS / 20 && refused > ROUNDS / 5, "{ok} accepted, {refused} refused");
}

#[test]
fn the_template_helpers_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("templates")).unwrap();
    let t = Templates::load(&dir.path().join("templates"), dir.path(), false).unwrap_or_else(|ps| panic!("{ps:?}"));
    let odd: Vec<Value> = vec![
        json!(null),
        json!(0),
        json!(-0.0),
        json!(1e308),
        json!(-1e308),
        json!(f64::MIN_POSITIVE),
        json!(u64::MAX),
        json!(i64::MIN),
        json!("12.50"),
        json!("-"),
        json!(""),
        json!("2026-11-23"),
        json!("2026-11-23T07:00:00Z"),
        json!("+275760-09-13T00:00:00Z"),
        json!("9999-99-99"),
        json!("<script>alert(1)</script>"),
        json!("é🙂\r\n.\r\n"),
        json!(true),
        json!([1, 2]),
        json!({"a": 1}),
    ];
    let hash_values =
        ["0", "-1", "99999999999", "1.5", "\"\"", "\"%Q%\"", "\"%-d %b %Y\"", "\"<b>\"", "true", "\"a,b,*\"", "\"x=1\"", "\"=\"", "null"];
    let hash_keys = ["decimals", "code", "format", "inverse", "columns", "percent", "filter", "limit", "grey", "compact"];
    let seed = 0xc0ffee_u64;
    let mut rng = Rng(seed);
    for _ in 0..ROUNDS {
        let helper = ["number", "currency", "percent", "delta", "date", "table"][rng.below(6)];
        let a = odd[rng.below(odd.len())].clone();
        let b = odd[rng.below(odd.len())].clone();
        let rows: Vec<Value> = (0..rng.below(4)).map(|_| json!({"x": odd[rng.below(odd.len())], "y": odd[rng.below(odd.len())]})).collect();
        let data = json!({"a": a, "b": b, "job": {"currency": odd[rng.below(odd.len())]}, "r": {"rows": rows, "columns": [{"name": "x", "type": "float"}, {"name": "y", "type": "text"}]}});
        let mut args = match helper {
            "table" => vec!["r".to_string()],
            "delta" if rng.below(2) == 0 => vec!["a".into(), "b".into()],
            _ => vec![["a", "b", "r", "nope", "\"lit\"", "3"][rng.below(6)].to_string()],
        };
        for _ in 0..rng.below(3) {
            args.push(format!("{}={}", hash_keys[rng.below(hash_keys.len())], hash_values[rng.below(hash_values.len())]));
        }
        let template = format!("{{{{{helper} {}}}}}", args.join(" "));
        let input = format!("{template}  with {data}");
        no_panic("the HTML helpers", seed, &input, || {
            let _ = t.render_html(&template, &data);
        });
        no_panic("the text helpers", seed, &input, || {
            let _ = t.render_text(&template, &data);
        });
    }
}

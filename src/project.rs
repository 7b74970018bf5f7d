//! The project on disk: find its root, then load `pareto.toml`, `jobs/`, `queries/` and
//! `templates/` into a checked [`Project`], collecting every problem rather than the first.

use crate::problem::{Problem, shown};
use crate::spec::config::{self, Config};
use crate::spec::job::{self, Job, Known, is_identifier};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// One SQL file in `queries/`.
#[derive(Debug, Clone)]
pub struct QueryFile {
    pub name: String,
    /// Path relative to the project root, as shown to users.
    pub file: PathBuf,
    pub sql: String,
    /// For a model's table made in Rust from what the SQL returns (the `[prediction]` fit).
    pub compute: Option<crate::model::prediction::Node>,
}

impl QueryFile {
    pub fn new(name: impl Into<String>, file: impl Into<PathBuf>, sql: impl Into<String>) -> QueryFile {
        QueryFile { name: name.into(), file: file.into(), sql: sql.into(), compute: None }
    }

    /// Contract tables this query can do without: named in a `-- pareto: optional t1, t2` comment
    /// line. When the lake lacks one, the query reads it as an empty table (and the report notes
    /// it) instead of being switched off.
    pub fn optional_tables(&self) -> Vec<String> {
        self.sql
            .lines()
            .filter_map(|l| l.trim().strip_prefix("--")?.trim().strip_prefix("pareto:")?.trim().strip_prefix("optional")?.trim().into())
            .flat_map(|rest: &str| rest.split(',').map(|t| t.trim().to_string()).filter(|t| !t.is_empty()).collect::<Vec<_>>())
            .collect()
    }

    /// Column formats the file declares in `-- pareto: format col=word col=word:decimals` lines,
    /// each with its line number; a word that is not a format is an `Err` saying so.
    pub fn formats(&self) -> Vec<(usize, String, Result<crate::render::format::Declared, String>)> {
        let mut out = Vec::new();
        for (i, line) in self.sql.lines().enumerate() {
            let Some(rest) = line.trim().strip_prefix("--").and_then(|r| r.trim().strip_prefix("pareto:")) else { continue };
            let Some(rest) = rest.trim().strip_prefix("format") else { continue };
            if !rest.starts_with(char::is_whitespace) {
                continue;
            }
            for pair in rest.split_whitespace() {
                match pair.split_once('=') {
                    Some((column, word)) if !column.is_empty() => {
                        out.push((i + 1, column.to_string(), crate::render::format::parse_declared(word)))
                    }
                    _ => out.push((i + 1, pair.to_string(), Err(format!("`{pair}`: write `column=format`, like `csat=percent`")))),
                }
            }
        }
        out
    }

    /// A `-- pareto: burst [key]` line: the query runs once per group of a bursting job, with the
    /// group's key bound as `$burst_key`. Returns its line and the key column it names, if any.
    pub fn burst(&self) -> Option<(usize, Option<String>)> {
        self.sql.lines().enumerate().find_map(|(i, l)| {
            let rest = l.trim().strip_prefix("--")?.trim().strip_prefix("pareto:")?.trim().strip_prefix("burst")?;
            if !(rest.is_empty() || rest.starts_with(char::is_whitespace)) {
                return None;
            }
            Some((i + 1, rest.split_whitespace().next().map(str::to_string)))
        })
    }

    /// Whether the run archives this query's result: not when the file says `-- pareto: archive
    /// off` (an intermediate whose readers' results hold what it has).
    pub fn archived(&self) -> bool {
        !self.sql.lines().any(|l| {
            l.trim().strip_prefix("--").and_then(|r| r.trim().strip_prefix("pareto:")).is_some_and(|r| {
                let words: Vec<&str> = r.split_whitespace().collect();
                words == ["archive", "off"]
            })
        })
    }
}

/// A loaded project. Jobs that failed their checks are left out of `jobs`; their problems are in
/// `problems`, keyed by nothing but the file they name.
#[derive(Debug)]
pub struct Project {
    pub root: PathBuf,
    pub config: Config,
    pub jobs: Vec<Job>,
    /// Job files that failed to load, with why.
    pub broken_jobs: BTreeMap<PathBuf, Vec<Problem>>,
    pub queries: BTreeMap<String, QueryFile>,
    pub templates_dir: PathBuf,
    pub problems: Vec<Problem>,
}

/// The project root: `explicit` if given, else the nearest folder upward from `cwd` holding
/// `pareto.toml`, else `cwd` itself.
pub fn find_root(explicit: Option<&Path>, cwd: &Path) -> PathBuf {
    if let Some(p) = explicit {
        return if p.is_absolute() { p.to_path_buf() } else { cwd.join(p) };
    }
    let mut dir = Some(cwd);
    while let Some(d) = dir {
        if d.join("pareto.toml").is_file() {
            return d.to_path_buf();
        }
        dir = d.parent();
    }
    cwd.to_path_buf()
}

/// Names of the templates in `dir` that can head a report (`<name>.html.hbs`).
pub fn report_templates(dir: &Path) -> BTreeSet<String> {
    files_with_suffix(dir, ".html.hbs").into_iter().map(|(n, _)| n).collect()
}

/// Files directly in `dir` whose name ends in `suffix`, as (stem, path), sorted.
fn files_with_suffix(dir: &Path, suffix: &str) -> Vec<(String, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut out: Vec<(String, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            let stem = name.strip_suffix(suffix)?.to_string();
            e.path().is_file().then_some((stem, e.path()))
        })
        .collect();
    out.sort();
    out
}

/// Load everything under `root`. Fails only when `pareto.toml` itself is unusable.
pub fn load(root: &Path, env: &BTreeMap<String, String>) -> Result<Project, Vec<Problem>> {
    let config = config::load(root, env)?;
    let mut problems = Vec::new();

    let mut queries = BTreeMap::new();
    for (name, path) in files_with_suffix(&root.join("queries"), ".sql") {
        let file = shown(root, &path);
        // `name__prev.sql` is the previous period's version of query `name`, made from this
        // period's data (cheaper than running `name` again one period back); no other `__`.
        let base = name.strip_suffix(crate::query::PREV).unwrap_or(&name);
        if base.contains("__") {
            problems.push(Problem::new(
                file,
                format!(
                    "`{name}`: a query name may not contain `__` (`name__prev` means a query's result for the previous period; a file `name__prev.sql` defines it)"
                ),
            ));
            continue;
        }
        if !is_identifier(&name) {
            problems.push(Problem::new(
                file,
                format!("`{name}` cannot name a query: use lowercase letters, digits and `_` so SQL can refer to it as a table"),
            ));
            continue;
        }
        match std::fs::read_to_string(&path) {
            Ok(sql) => {
                let q = QueryFile::new(name.clone(), file.clone(), sql);
                for (line, _, declared) in q.formats() {
                    if let Err(why) = declared {
                        problems.push(Problem::new(file.clone(), format!("`-- pareto: format`: {why}")).at(line, 1));
                    }
                }
                queries.insert(name, q);
            }
            Err(e) => problems.push(Problem::new(file, format!("cannot read: {e}"))),
        }
    }

    let explicit_prev: Vec<String> = queries.keys().filter(|n| n.ends_with(crate::query::PREV)).cloned().collect();
    for name in explicit_prev {
        let base = &name[..name.len() - crate::query::PREV.len()];
        if !queries.contains_key(base) {
            let file = queries[&name].file.clone();
            problems.push(Problem::new(
                file,
                format!(
                    "`{name}` is the previous period of query `{base}`, but there is no queries/{base}.sql; rename it or add that query"
                ),
            ));
            queries.remove(&name);
        }
    }

    let templates_dir = root.join("templates");
    let templates = report_templates(&templates_dir);
    let query_names: BTreeSet<String> = queries.keys().cloned().collect();
    let known = Known { queries: &query_names, templates: &templates };

    let mut jobs: Vec<Job> = Vec::new();
    let mut broken_jobs = BTreeMap::new();
    for (_, path) in files_with_suffix(&root.join("jobs"), ".toml") {
        let file = shown(root, &path);
        match job::load(&path, &file, &config, &known) {
            Ok(j) => {
                if let Some(other) = jobs.iter().find(|o| o.name == j.name) {
                    let p = Problem::new(
                        file.clone(),
                        format!("job name `{}` is also used by {}; names must be unique", j.name, other.file.display()),
                    );
                    broken_jobs.insert(file, vec![p]);
                } else {
                    jobs.push(j);
                }
            }
            Err(ps) => {
                broken_jobs.insert(file, ps);
            }
        }
    }
    // `inherit = "other-job"`: share its value model, service levels and params.
    let bases: BTreeMap<String, Job> = jobs.iter().filter(|j| j.inherit.is_none()).map(|j| (j.name.clone(), j.clone())).collect();
    let mut kept = Vec::new();
    for mut j in jobs {
        if let Some((base, line)) = j.inherit.clone() {
            let Some(b) = bases.get(&base) else {
                let p = Problem::new(
                    j.file.clone(),
                    format!("`inherit`: there is no job `{base}` to inherit from (a job that inherits cannot be inherited from)"),
                )
                .at(line, 1);
                broken_jobs.insert(j.file.clone(), vec![p]);
                continue;
            };
            if j.scoring.is_none() {
                j.scoring = b.scoring.clone();
            }
            if j.prediction.is_none() {
                j.prediction = b.prediction.clone();
            }
            if j.service_levels.is_empty() {
                j.service_levels = b.service_levels.clone();
            }
            for (k, v) in &b.params {
                j.params.entry(k.clone()).or_insert_with(|| v.clone());
            }
            // The model's figures are needed when this job's own scoring reads them.
            let predicted =
                j.scoring.as_ref().filter(|s| s.predicted).and_then(|s| {
                    s.criteria.iter().find(|c| job::PREDICTED_COLUMNS.iter().any(|col| crate::query::mentions(&c.expr, col)))
                });
            match (&mut j.prediction, predicted) {
                (Some(p), Some(c)) => {
                    p.required_by.get_or_insert_with(|| c.name.clone());
                }
                (None, Some(c)) => {
                    let p = Problem::new(
                        j.file.clone(),
                        format!(
                            "criterion `{}` reads the `[prediction]` model's figures, and neither this job nor `{base}` declares `[prediction]`",
                            c.name
                        ),
                    );
                    broken_jobs.insert(j.file.clone(), vec![p]);
                    continue;
                }
                _ => {}
            }
            if j.prediction.is_none()
                && let Some(q) =
                    j.queries.iter().find(|q| [crate::model::prediction::FIT, crate::model::prediction::TABLE].contains(&q.as_str()))
            {
                let p = Problem::new(
                    j.file.clone(),
                    format!("`queries`: `{q}` is made by a `[prediction]` model, and neither this job nor `{base}` declares one"),
                );
                broken_jobs.insert(j.file.clone(), vec![p]);
                continue;
            }
        }
        kept.push(j);
    }
    let jobs = kept;
    for ps in broken_jobs.values() {
        problems.extend(ps.iter().cloned());
    }
    Ok(Project { root: root.to_path_buf(), config, jobs, broken_jobs, queries, templates_dir, problems })
}

impl Project {
    /// Find a job by name, file stem or path. A job whose file failed its checks is an error
    /// listing those problems.
    pub fn job(&self, wanted: &str) -> Result<&Job, Vec<Problem>> {
        let stem = Path::new(wanted).file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
        if let Some(j) = self.jobs.iter().find(|j| j.name == wanted || j.file.file_stem().is_some_and(|s| s.to_string_lossy() == stem)) {
            return Ok(j);
        }
        if let Some((_, ps)) = self.broken_jobs.iter().find(|(f, _)| f.file_stem().is_some_and(|s| s.to_string_lossy() == stem)) {
            return Err(ps.clone());
        }
        let names: BTreeSet<String> = self.jobs.iter().map(|j| j.name.clone()).collect();
        Err(vec![Problem::new(None, format!("no job `{wanted}` in {}{}", self.root.join("jobs").display(), job::suggest(wanted, &names)))])
    }
}

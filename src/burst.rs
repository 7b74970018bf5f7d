//! Bursting: one job, one report per group. The `[burst]` query lists the groups (a key, the
//! addresses, a display name); queries marked `-- pareto: burst` run once per group with the key
//! bound as the typed parameter `$burst_key`, so a group's report is made only of its own rows
//! whatever its template does.

use crate::problem::Problem;
use crate::project::QueryFile;
use crate::query::{Graph, QueryResult, source};
use crate::spec::job::{Burst, Job};
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use lettre::message::Mailbox;
use std::collections::{BTreeMap, BTreeSet};

/// The parameter a per-group query filters on.
pub const KEY_PARAM: &str = "burst_key";

/// One group of a bursting job.
#[derive(Debug, Clone)]
pub struct Group {
    /// The key, typed as the burst query returned it (bound as `$burst_key`).
    pub key: ScalarValue,
    /// The key as text, as `--group` and `pareto history` show it.
    pub key_text: String,
    pub name: Option<String>,
    /// The addresses that parse.
    pub to: Vec<Mailbox>,
    /// What is wrong with the group's addresses: none at all, or some that do not parse.
    pub address_problems: Vec<String>,
    /// Its folder in the period's archive folder (and its part of the Message-ID).
    pub folder: String,
}

/// The nodes of `graph` that run once per group: those whose query says `-- pareto: burst`, and
/// those that read one of them. In the graph's order.
pub fn nodes(graph: &Graph, queries: &BTreeMap<String, QueryFile>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for name in &graph.order {
        let declared = queries.get(source(name, queries).0).is_some_and(|q| q.burst().is_some());
        if declared || graph.deps[name].iter().any(|d| out.contains(d)) {
            out.insert(name.clone());
        }
    }
    out
}

/// What is wrong with the job's use of bursting: a per-group query in a job without `[burst]`, a
/// per-group query that never filters by `$burst_key`, one naming another key, a burst query
/// that itself runs per group or is shown to every group.
pub fn problems(job: &Job, graph: &Graph, queries: &BTreeMap<String, QueryFile>, per_group: &BTreeSet<String>) -> Vec<Problem> {
    let mut out = Vec::new();
    let declared: BTreeMap<&str, (&QueryFile, usize, Option<String>)> = graph
        .order
        .iter()
        .chain(graph.skipped.keys())
        .filter_map(|n| {
            let key = source(n, queries).0;
            let q = queries.get(key)?;
            let (line, k) = q.burst()?;
            Some((key, (q, line, k)))
        })
        .collect();
    for (name, (q, line, key)) in &declared {
        match &job.burst {
            None => out.push(
                Problem::new(
                    q.file.clone(),
                    format!(
                        "`{name}` runs once per group of a bursting job (`-- pareto: burst`), but job `{}` ({}) has no `[burst]`; add one, or use a query without that line",
                        job.name,
                        job.file.display()
                    ),
                )
                .at(*line, 1),
            ),
            Some(b) => {
                if let Some(k) = key
                    && *k != b.key
                {
                    out.push(
                        Problem::new(
                            q.file.clone(),
                            format!(
                                "`-- pareto: burst {k}`: job `{}` bursts by `{}` (`[burst] key`); the query is written for another key",
                                job.name, b.key
                            ),
                        )
                        .at(*line, 1),
                    );
                }
                if !crate::query::mentions(&q.sql, &format!("${KEY_PARAM}")) {
                    out.push(
                        Problem::new(
                            q.file.clone(),
                            format!(
                                "`{name}` runs once per group but never reads `${KEY_PARAM}`, so every group would get every row; filter by it, e.g. `WHERE {} = ${KEY_PARAM}`",
                                b.key
                            ),
                        )
                        .at(*line, 1),
                    );
                }
            }
        }
    }
    // (In a job without `[burst]` planning says so, with the line: `$burst_key` is unknown there.)
    for name in graph.order.iter().filter(|n| job.burst.is_some() && !per_group.contains(*n)) {
        let Some(q) = queries.get(source(name, queries).0) else { continue };
        if q.compute.is_none() && crate::query::mentions(&q.sql, &format!("${KEY_PARAM}")) {
            out.push(Problem::new(
                q.file.clone(),
                format!("`{name}` reads `${KEY_PARAM}`, which is bound only in a query that runs once per group: add a `-- pareto: burst` line to it"),
            ));
        }
    }
    if let Some(b) = &job.burst {
        if per_group.contains(&b.query) {
            let q = &queries[&b.query];
            out.push(Problem::new(
                q.file.clone(),
                format!("`{}` lists the groups (`[burst] query`), so it runs once, not per group: it may not be marked `-- pareto: burst` nor read a query that is", b.query),
            ));
        }
        if job.queries.contains(&b.query) {
            out.push(Problem::new(
                job.file.clone(),
                format!(
                    "`queries` lists `{}`, the burst query: every group's report would show every group's row; the template has its own group's row as `burst` (`{{{{burst.name}}}}`, `{{{{burst.key}}}}`)",
                    b.query
                ),
            ));
        }
    }
    out
}

/// A text fit for a folder name and a Message-ID: letters, digits, `.`, `-` and `_`; anything else
/// (or a name the run folder uses itself) gets a short hash of the key so two keys never share one.
pub fn folder(key: &str) -> String {
    let clean: String = key.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' { c } else { '_' }).collect();
    let clean: String = clean.chars().take(60).collect();
    if clean == key && !key.is_empty() && !key.starts_with('.') && key != "results" {
        return clean;
    }
    // FNV-1a: stable across runs and machines.
    let mut h: u32 = 0x811c9dc5;
    for b in key.bytes() {
        h ^= b as u32;
        h = h.wrapping_mul(0x01000193);
    }
    format!("{}-{h:08x}", clean.trim_start_matches('.'))
}

/// The groups the burst query returned, in its order; rows sharing a key are one group (their
/// addresses together). Also the number of rows without a key, which belong to no group.
pub fn groups(b: &Burst, r: &QueryResult) -> Result<(Vec<Group>, usize), String> {
    let column = |name: &str, what: &str| -> Result<usize, String> {
        r.schema.index_of(name).map_err(|_| {
            let have: Vec<String> = r.schema.fields().iter().map(|f| f.name().clone()).collect();
            format!("`[burst] {what} = \"{name}\"`: `{}` has no column `{name}` (it returns: {})", b.query, have.join(", "))
        })
    };
    let key_i = column(&b.key, "key")?;
    let to_i = column(&b.to, "to")?;
    let name_i = b.name.as_deref().map(|n| column(n, "name")).transpose()?;
    let key_type = r.schema.field(key_i).data_type().clone();
    let text = |a: &dyn Array, i: usize| -> Option<String> {
        if a.is_null(i) {
            return None;
        }
        let s = datafusion::arrow::util::display::ArrayFormatter::try_new(a, &Default::default()).ok()?.value(i).to_string();
        Some(s)
    };
    let mut out: Vec<Group> = Vec::new();
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    let mut unkeyed = 0;
    for batch in &r.batches {
        let keys = batch.column(key_i);
        let keys = match &key_type {
            t if t.is_integer() => datafusion::arrow::compute::cast(keys, &DataType::Int64).map_err(|e| e.to_string())?,
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Dictionary(_, _) => {
                datafusion::arrow::compute::cast(keys, &DataType::Utf8).map_err(|e| e.to_string())?
            }
            other => {
                return Err(format!(
                    "`[burst] key = \"{}\"`: `{}` returns it as {other}; a burst key is an integer or text",
                    b.key, b.query
                ));
            }
        };
        for i in 0..batch.num_rows() {
            if keys.is_null(i) {
                unkeyed += 1;
                continue;
            }
            let (key, key_text) = match keys.data_type() {
                DataType::Int64 => {
                    let v = keys.as_primitive::<datafusion::arrow::datatypes::Int64Type>().value(i);
                    (ScalarValue::Int64(Some(v)), v.to_string())
                }
                _ => {
                    let v = keys.as_string::<i32>().value(i).to_string();
                    (ScalarValue::Utf8(Some(v.clone())), v)
                }
            };
            let name =
                name_i.and_then(|n| text(batch.column(n).as_ref(), i)).map(|n| n.chars().filter(|c| !c.is_control()).collect::<String>());
            let to = text(batch.column(to_i).as_ref(), i);
            let at = *index.entry(key_text.clone()).or_insert_with(|| {
                out.push(Group {
                    key,
                    key_text: key_text.clone(),
                    name: None,
                    to: Vec::new(),
                    address_problems: Vec::new(),
                    folder: folder(&key_text),
                });
                out.len() - 1
            });
            let g = &mut out[at];
            if g.name.is_none() {
                g.name = name.filter(|n| !n.trim().is_empty());
            }
            for a in to.iter().flat_map(|t| t.split([',', ';'])).map(str::trim).filter(|a| !a.is_empty()) {
                match a.parse::<Mailbox>() {
                    Ok(mut m) => {
                        if m.name.is_none() {
                            m.name = g.name.clone();
                        }
                        if !g.to.iter().any(|x| x.email == m.email) {
                            g.to.push(m);
                        }
                    }
                    Err(e) => g.address_problems.push(format!("`{}` is not an email address ({e})", a.escape_debug())),
                }
            }
        }
    }
    for g in &mut out {
        if g.to.is_empty() && g.address_problems.is_empty() {
            g.address_problems.push(format!("no address in `{}.{}`", b.query, b.to));
        }
    }
    Ok((out, unkeyed))
}

/// A group as people read it: `17 (Ada Akers)`.
pub fn describe(g: &Group) -> String {
    match &g.name {
        Some(n) => format!("{} ({n})", g.key_text),
        None => g.key_text.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_are_safe_and_distinct() {
        assert_eq!(folder("17"), "17");
        assert_eq!(folder("emea-north"), "emea-north");
        let a = folder("../etc");
        assert!(a.starts_with("_etc-") && a.len() == 13, "{a}");
        assert_ne!(folder("a b"), folder("a_b"));
        assert_ne!(folder("results"), "results");
        assert!(folder("").starts_with('-'));
    }
}

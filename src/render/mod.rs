//! Reports from templates: the Handlebars registries (HTML and plain text), their helpers, and the
//! errors a template author can act on.

pub mod chart;
pub mod format;
pub mod helpers;
pub mod xlsx;

use crate::problem::Problem;
use handlebars::{Handlebars, RenderErrorReason};
use helpers::Flavour;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Why a report could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("{}", crate::problem::list(.0))]
    Problems(Vec<Problem>),
}

/// A rendered report: the two parts of the email, its subject, and the charts the HTML shows
/// (by `cid:`).
#[derive(Debug, Clone)]
pub struct Rendered {
    pub subject: String,
    pub html: String,
    pub text: String,
    pub images: Vec<chart::Image>,
}

/// Templates loaded from `templates/`: `NAME.html.hbs` and `NAME.txt.hbs` are the two parts of
/// report NAME and can be used as partials (`{{> NAME}}`) by templates of the same part; a plain
/// `NAME.hbs` serves both parts.
pub struct Templates {
    html: Handlebars<'static>,
    text: Handlebars<'static>,
    /// (part, template name) → the file it came from, for messages.
    files: BTreeMap<(Part, String), PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Part {
    Html,
    Text,
}

fn registry(flavour: Flavour, strict: bool) -> Handlebars<'static> {
    let mut hb = Handlebars::new();
    hb.set_strict_mode(strict);
    hb.set_dev_mode(false);
    if flavour == Flavour::Text {
        hb.register_escape_fn(handlebars::no_escape);
    }
    helpers::register(&mut hb, flavour);
    hb
}

impl Templates {
    /// Load every template under `dir`; every file that does not compile is a problem.
    pub fn load(dir: &Path, root: &Path, strict: bool) -> Result<Templates, Vec<Problem>> {
        let mut t = Templates { html: registry(Flavour::Html, strict), text: registry(Flavour::Text, strict), files: BTreeMap::new() };
        let mut problems = Vec::new();
        let mut paths = Vec::new();
        collect(dir, &mut paths);
        paths.sort();
        for path in paths {
            let rel = path.strip_prefix(dir).unwrap_or(&path).to_string_lossy().replace('\\', "/");
            let (name, parts): (&str, &[Part]) = if let Some(n) = rel.strip_suffix(".html.hbs") {
                (n, &[Part::Html])
            } else if let Some(n) = rel.strip_suffix(".txt.hbs") {
                (n, &[Part::Text])
            } else if let Some(n) = rel.strip_suffix(".hbs") {
                (n, &[Part::Html, Part::Text])
            } else {
                continue;
            };
            let shown = crate::problem::shown(root, &path);
            let text = match std::fs::read_to_string(&path) {
                Ok(s) => s,
                Err(e) => {
                    problems.push(Problem::new(shown, format!("cannot read: {e}")));
                    continue;
                }
            };
            for part in parts {
                let hb = match part {
                    Part::Html => &mut t.html,
                    Part::Text => &mut t.text,
                };
                if let Err(e) = hb.register_template_string(name, &text) {
                    let mut p = Problem::new(shown.clone(), format!("template syntax: {}", e.reason()));
                    if let Some((l, c)) = e.pos() {
                        p = p.at(l, c);
                    }
                    problems.push(p);
                    break;
                }
                t.files.insert((*part, name.to_string()), shown.clone());
            }
        }
        if problems.is_empty() { Ok(t) } else { Err(problems) }
    }

    /// Whether report `name` has both parts.
    pub fn missing_parts(&self, name: &str) -> Vec<String> {
        let mut out = Vec::new();
        if !self.files.contains_key(&(Part::Html, name.to_string())) {
            out.push(format!("templates/{name}.html.hbs"));
        }
        if !self.files.contains_key(&(Part::Text, name.to_string())) {
            out.push(format!("templates/{name}.txt.hbs"));
        }
        out
    }

    /// Render report `name` and the job's `subject` with `data`.
    pub fn report(&self, name: &str, subject: &str, subject_file: &Path, data: &Value) -> Result<Rendered, RenderError> {
        let missing = self.missing_parts(name);
        if !missing.is_empty() {
            return Err(RenderError::Problems(vec![Problem::new(
                None,
                format!("report template `{name}` lacks {}; every email has an HTML and a plain-text part", missing.join(" and ")),
            )]));
        }
        let (html, images) = chart::collecting(|| self.html.render(name, data));
        let html = html.map_err(|e| self.problem(Part::Html, name, e))?;
        let text = self.text.render(name, data).map_err(|e| self.problem(Part::Text, name, e))?;
        let subject = self.text.render_template(subject, data).map_err(|e| {
            let reason = describe(e.reason());
            RenderError::Problems(vec![Problem::new(subject_file.to_path_buf(), format!("`subject`: {reason}"))])
        })?;
        let subject = subject.split_whitespace().collect::<Vec<_>>().join(" ");
        Ok(Rendered { subject, html, text, images })
    }

    /// Render a one-off template string (an alert message) as plain text with the helpers.
    pub fn render_text(&self, template: &str, data: &Value) -> Result<String, handlebars::RenderError> {
        let mut lenient = self.text.clone();
        lenient.set_strict_mode(false);
        lenient.render_template(template, data)
    }

    /// Render a one-off template string as the HTML part would, with the helpers (strict mode as
    /// configured).
    pub fn render_html(&self, template: &str, data: &Value) -> Result<String, handlebars::RenderError> {
        self.html.render_template(template, data)
    }

    fn problem(&self, part: Part, top: &str, e: handlebars::RenderError) -> RenderError {
        let name = e.template_name.clone().unwrap_or_else(|| top.to_string());
        let file = self.files.get(&(part, name.clone())).cloned().unwrap_or_else(|| PathBuf::from(format!("templates/{name}")));
        let mut p = Problem::new(file, describe(e.reason()));
        if let (Some(l), Some(c)) = (e.line_no, e.column_no) {
            p = p.at(l, c);
        }
        RenderError::Problems(vec![p])
    }
}

/// Handlebars' own helpers, always available.
const BUILTIN_HELPERS: &[&str] =
    &["if", "unless", "each", "with", "lookup", "raw", "log", "eq", "ne", "gt", "gte", "lt", "lte", "and", "or", "not", "len"];

impl Templates {
    /// Problems that show without data: calls to helpers that do not exist and partials that are
    /// not there, in every template.
    pub fn lint(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        for (part, hb) in [(Part::Html, &self.html), (Part::Text, &self.text)] {
            let mut names: Vec<&String> = hb.get_templates().keys().collect();
            names.sort();
            for name in names {
                let Some(file) = self.files.get(&(part, name.clone())) else { continue };
                let t = &hb.get_templates()[name];
                let mut inline = Vec::new();
                collect_inline(t, &mut inline);
                lint(&t.elements, &t.mapping, hb, &inline, file, &mut problems);
            }
        }
        problems.sort_by(|a, b| (&a.file, a.line, a.col).cmp(&(&b.file, b.line, b.col)));
        problems.dedup();
        problems
    }
}

fn collect_inline(t: &handlebars::template::Template, out: &mut Vec<String>) {
    use handlebars::template::TemplateElement as E;
    for e in &t.elements {
        match e {
            E::DecoratorBlock(d) | E::DecoratorExpression(d) => {
                if d.name.as_name() == Some("inline")
                    && let Some(handlebars::template::Parameter::Literal(serde_json::Value::String(n))) = d.params.first()
                {
                    out.push(n.clone());
                }
                if let Some(inner) = &d.template {
                    collect_inline(inner, out);
                }
            }
            E::HelperBlock(h) => {
                for inner in [&h.template, &h.inverse].into_iter().flatten() {
                    collect_inline(inner, out);
                }
            }
            E::PartialBlock(d) => {
                if let Some(inner) = &d.template {
                    collect_inline(inner, out);
                }
            }
            _ => {}
        }
    }
}

fn lint_template(t: &handlebars::template::Template, hb: &Handlebars<'static>, inline: &[String], file: &Path, out: &mut Vec<Problem>) {
    lint(&t.elements, &t.mapping, hb, inline, file, out);
}

fn lint(
    elements: &[handlebars::template::TemplateElement],
    mapping: &[handlebars::template::TemplateMapping],
    hb: &Handlebars<'static>,
    inline: &[String],
    file: &Path,
    out: &mut Vec<Problem>,
) {
    use handlebars::template::{Parameter, TemplateElement as E};
    let known_helper = |n: &str| helpers::NAMES.contains(&n) || BUILTIN_HELPERS.contains(&n);
    for (i, e) in elements.iter().enumerate() {
        let here = mapping.get(i).map(std::slice::from_ref).unwrap_or(&[]);
        let at = |p: Problem| match mapping.get(i) {
            Some(m) => p.at(m.0, m.1),
            None => p,
        };
        let check_params = |params: &[Parameter], out: &mut Vec<Problem>| {
            for p in params {
                if let Parameter::Subexpression(sub) = p {
                    lint(std::slice::from_ref(&*sub.element), here, hb, inline, file, out);
                }
            }
        };
        match e {
            E::Expression(h) | E::HtmlExpression(h) => {
                if (!h.params.is_empty() || !h.hash.is_empty())
                    && let Some(n) = h.name.as_name()
                    && !known_helper(n)
                {
                    out.push(at(Problem::new(file.to_path_buf(), describe(&RenderErrorReason::HelperNotFound(n.to_string())))));
                }
                check_params(&h.params, out);
            }
            E::HelperBlock(h) => {
                if let Some(n) = h.name.as_name()
                    && !known_helper(n)
                {
                    out.push(at(Problem::new(file.to_path_buf(), describe(&RenderErrorReason::HelperNotFound(n.to_string())))));
                }
                check_params(&h.params, out);
                for inner in [&h.template, &h.inverse].into_iter().flatten() {
                    lint_template(inner, hb, inline, file, out);
                }
            }
            E::PartialExpression(d) | E::PartialBlock(d) => {
                if let Some(n) = d.name.as_name()
                    && n != "@partial-block"
                    && !hb.has_template(n)
                    && !inline.iter().any(|i| i == n)
                {
                    out.push(at(Problem::new(file.to_path_buf(), describe(&RenderErrorReason::PartialNotFound(n.to_string())))));
                }
                if let Some(inner) = &d.template {
                    lint_template(inner, hb, inline, file, out);
                }
            }
            E::DecoratorBlock(d) => {
                if let Some(inner) = &d.template {
                    lint_template(inner, hb, inline, file, out);
                }
            }
            _ => {}
        }
    }
}

/// A Handlebars error in words that say what to do.
fn describe(reason: &RenderErrorReason) -> String {
    match reason {
        RenderErrorReason::HelperNotFound(h) => format!(
            "unknown helper `{h}`; pareto's helpers are {} (plus Handlebars' own: if, unless, each, with, lookup, eq, ne, gt, lt, and, or, not, len)",
            helpers::NAMES.join(", ")
        ),
        RenderErrorReason::PartialNotFound(p) => {
            format!("partial `{p}` not found: there is no templates/{p}.html.hbs, {p}.txt.hbs or {p}.hbs")
        }
        RenderErrorReason::MissingVariable(Some(v)) => {
            format!("`{v}` is not in the report's data (strict mode); check the query and column names, or guard it with {{{{#if}}}}")
        }
        RenderErrorReason::MissingVariable(None) => "a value is missing from the report's data (strict mode)".to_string(),
        other => other.to_string(),
    }
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect(&p, out);
        } else {
            out.push(p);
        }
    }
}

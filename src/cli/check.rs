//! `pareto check [JOB]`: every problem in the project, before 3 a.m. finds it.

use clap::Args;
use pareto::exit;
use pareto::pipeline;
use pareto::render::Templates;
use std::path::Path;

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Check only this job (name or file).
    pub job: Option<String>,
}

pub async fn run(root: &Path, a: CheckArgs) -> anyhow::Result<u8> {
    let project = match super::load(root) {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    let mut problems = Vec::new();
    let mut notes = Vec::new();
    let jobs: Vec<_> = match &a.job {
        Some(name) => match super::job(&project, name) {
            Ok(j) => vec![j],
            Err(code) => return Ok(code),
        },
        None => {
            problems.extend(project.problems.iter().cloned());
            project.jobs.iter().collect()
        }
    };
    // Templates are checked with strict mode off: over empty results every field is "missing".
    match Templates::load(&project.templates_dir, &project.root, false) {
        Ok(templates) => {
            problems.extend(templates.lint());
            for job in &jobs {
                problems.extend(pipeline::check(&project, job, &templates, &mut notes).await);
            }
        }
        Err(ps) => problems.extend(ps),
    }
    problems.sort_by(|a, b| (&a.file, a.line, a.col).cmp(&(&b.file, b.line, b.col)));
    problems.dedup();
    for p in &problems {
        println!("{p}");
    }
    for n in &notes {
        println!("note: {n}");
    }
    let queries: usize = project.queries.len();
    if problems.is_empty() {
        println!("ok: {} job(s), {queries} query file(s) and their templates check out", jobs.len());
        Ok(exit::OK)
    } else {
        println!("{} problem(s) found", problems.len());
        Ok(exit::USAGE)
    }
}

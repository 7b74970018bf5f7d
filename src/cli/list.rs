//! `pareto list`: the jobs, their schedules and next run times.

use pareto::exit;
use std::path::Path;

pub fn run(root: &Path) -> anyhow::Result<u8> {
    let project = match super::load(root) {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    let now = chrono::Utc::now();
    let mut rows = vec![["JOB", "SCHEDULE", "TIME ZONE", "PERIOD", "NEXT RUN", "DESCRIPTION"].map(String::from).to_vec()];
    for j in &project.jobs {
        let next = pareto::schedule::next(&j.cron, j.tz, now, 1)
            .first()
            .map(|t| t.with_timezone(&j.tz).format("%a %Y-%m-%d %H:%M %Z").to_string())
            .unwrap_or_else(|| "never".into());
        rows.push(vec![j.name.clone(), j.schedule.clone(), j.tz.name().to_string(), j.period.to_string(), next, j.description.clone()]);
    }
    for f in project.broken_jobs.keys() {
        rows.push(vec![f.display().to_string(), "-".into(), "-".into(), "-".into(), "-".into(), "invalid: run `pareto check`".into()]);
    }
    let widths: Vec<usize> = (0..6).map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0)).collect();
    for r in &rows {
        let line: Vec<String> = r.iter().enumerate().map(|(i, c)| format!("{c:<w$}", w = widths[i])).collect();
        println!("{}", line.join("  ").trim_end());
    }
    Ok(if project.broken_jobs.is_empty() { exit::OK } else { exit::USAGE })
}

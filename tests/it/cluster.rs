//! The same jobs on an Apache DataFusion Ballista cluster: a scheduler and two executors started
//! as `pareto cluster …` processes on loopback, over a local folder and over a lake in moto's S3
//! server. Each run is compared with the embedded engine's run of the same period, file by file.

use crate::support::cluster::Cluster;
use crate::support::moto::Moto;
use crate::support::{TestProject, files, same_run};
use std::process::{Command, Stdio};

const RUN: [&str; 5] = ["run", "weekly-leadership", "--as-of", "2026-11-23", "--dry-run"];
const RUN_DIR: &str = "archive/weekly-leadership/2026-W47.preview";

/// A bundled project on a generated lake of `customers` customers (data to 2026-11-23).
fn generated(customers: u32) -> TestProject {
    let p = TestProject::bundled();
    p.run(&["generate", "--out", "lake", "--customers", &customers.to_string(), "--seed", "21", "--until", "2026-11-23"]).expect(0);
    p
}

/// Run the weekly report on the embedded engine and keep its run folder's files.
fn embedded_run(p: &TestProject) -> std::collections::BTreeMap<String, Vec<u8>> {
    let out = p.run(&RUN);
    out.expect(0);
    let run = files(&p.path(RUN_DIR));
    std::fs::remove_dir_all(p.path(RUN_DIR)).unwrap();
    run
}

/// Start the weekly report's run on `engine` without waiting for it.
fn spawn_run(p: &TestProject, engine: &str) -> std::process::Child {
    Command::new(crate::support::BIN)
        .args(RUN)
        .current_dir(&p.root)
        .env("PARETO_ENGINE", engine)
        .env_remove("PARETO_LAKE")
        .env_remove("PARETO_ARCHIVE")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn run_json(p: &TestProject) -> serde_json::Value {
    serde_json::from_str(&p.read(&format!("{RUN_DIR}/run.json"))).unwrap()
}

#[test]
fn the_bundled_reports_on_a_cluster_over_a_local_folder_are_the_embedded_engines() {
    let mut p = generated(3000);
    let embedded = embedded_run(&p);
    let cluster = Cluster::start(2, &[]);
    // `[defaults] engine` in pareto.toml sends every job there.
    p.file("pareto.toml", &format!("{}engine = \"{}\"\n", p.read("pareto.toml"), cluster.url()));
    let out = p.run(&RUN);
    assert_eq!(out.code, 0, "{}\n{}", out.stderr, cluster.logs());
    same_run(&files(&p.path(RUN_DIR)), &embedded, "on the cluster");
    // The results later queries read went to the executors as files under the lake, removed
    // when the run ended.
    assert!(!out.stderr.contains("scratch folder"), "{}", out.stderr);
    assert!(!p.path("lake/_pareto_scratch").exists());
    let record = run_json(&p);
    assert_eq!(record["engine"], cluster.url());
    assert_eq!(record["outcome"], "dry-run");
    // Everything ran there: the scheduler finished a job for each of the 38 queries and for the
    // freshness gate's two reads (the newest order and ticket).
    assert_eq!(cluster.logs().matches("Job finished successfully").count(), 40, "{}", cluster.logs());
    assert_eq!(record["queries"].as_array().unwrap().len(), 38);

    // The other bundled jobs too: the monthly review (its model calibration casts to text, a
    // type Ballista would otherwise change) and the per-owner bursting report. (The daily alerts'
    // `ticket_days` is left out: DataFusion 55 drops `day` from its ORDER BY, so its rows come in
    // a different order from run to run on either engine.)
    for (job, dir) in [
        ("monthly-segment-review", "archive/monthly-segment-review/2026-10.preview"),
        ("weekly-account-owners", "archive/weekly-account-owners/2026-W47.preview"),
    ] {
        let run = ["run", job, "--as-of", "2026-11-23", "--dry-run"];
        p.env("PARETO_ENGINE", "embedded");
        p.run(&run).expect(0);
        let embedded = files(&p.path(dir));
        std::fs::remove_dir_all(p.path(dir)).unwrap();
        p.env("PARETO_ENGINE", &cluster.url());
        let out = p.run(&run);
        assert_eq!(out.code, 0, "{job}: {}\n{}", out.stderr, cluster.logs());
        same_run(&files(&p.path(dir)), &embedded, &format!("for {job} on the cluster"));
    }

    // `check` passes, and says what a local folder asks of a cluster.
    let out = p.run(&["check", "weekly-leadership"]);
    out.expect(0);
    assert!(
        out.stdout.contains(&format!(
            "note: jobs/weekly-leadership.toml: runs on {} over a local folder: every executor (and the scheduler) must see `lake` at the same path",
            cluster.url()
        )),
        "{}",
        out.stdout
    );
}

#[test]
fn the_weekly_report_on_a_cluster_over_s3_is_the_embedded_engines() {
    let moto = Moto::start();
    moto.upload_hand_lake("lake", "prod");
    let mut p = TestProject::bundled();
    for (k, v) in moto.env() {
        p.env(&k, &v);
    }
    let job = p.read("jobs/weekly-leadership.toml");
    p.file("jobs/weekly-leadership.toml", &job.replace("period = \"week\"", "period = \"week\"\nlake = \"s3://lake/prod\""));
    let embedded = embedded_run(&p);
    // The executors and the scheduler read the lake with credentials from their own environment.
    let cluster = Cluster::start(2, &moto.env());
    // `engine` in the job file.
    p.file(
        "jobs/weekly-leadership.toml",
        &job.replace("period = \"week\"", &format!("period = \"week\"\nlake = \"s3://lake/prod\"\nengine = \"{}\"", cluster.url())),
    );
    let out = p.run(&RUN);
    assert_eq!(out.code, 0, "{}\n{}", out.stderr, cluster.logs());
    same_run(&files(&p.path(RUN_DIR)), &embedded, "on the cluster");
    assert_eq!(run_json(&p)["engine"], cluster.url());
    let headline = p.result(&format!("{RUN_DIR}/results"), "headline");
    assert_eq!(headline["rows"][0]["revenue"], "1400.00");
}

#[test]
fn an_executor_killed_mid_run_costs_at_most_a_retry_and_the_results_stay_the_same() {
    let mut p = generated(10_000);
    // A run that hangs instead of failing would hold the job for an hour.
    p.file("pareto.toml", &format!("{}\n[lake]\ntimeout_secs = 300\n", p.read("pareto.toml")));
    let embedded = embedded_run(&p);
    let mut cluster = Cluster::start(2, &[]);
    p.env("PARETO_ENGINE", &cluster.url());
    let run = spawn_run(&p, &cluster.url());
    // Kill an executor once the run is under way (its first queries have run on the cluster).
    cluster.wait_for_jobs(3);
    cluster.kill_executor(1);
    let out = run.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    eprintln!("the run with a killed executor ended with exit code {:?}", out.status.code());
    match out.status.code() {
        // Ballista ran the lost executor's tasks again on the other.
        Some(0) => {}
        // Or the run failed, saying so, and sent nothing; the next attempt runs on what is left.
        Some(1) => {
            assert!(
                stderr.contains("query failed on the Ballista cluster: ") && stderr.contains("run the job again once the cluster is whole"),
                "{stderr}"
            );
            assert_eq!(run_json(&p)["outcome"], "failed");
            let again = p.run(&RUN);
            assert_eq!(again.code, 0, "the retry: {}\n{}", again.stderr, cluster.logs());
        }
        other => panic!("exit {other:?}: {stderr}\n{}", cluster.logs()),
    }
    same_run(&files(&p.path(RUN_DIR)), &embedded, "after an executor was killed");
}

#[test]
fn a_stopped_scheduler_fails_the_run_with_what_to_do() {
    let mut cluster = Cluster::start(1, &[]);
    let p = generated(3000);
    let url = cluster.url();
    // Stopped mid-run: the query that was running fails, and the run with it, under the name of
    // what was running (a query file, the freshness gate's read of a table, the [prediction] fit).
    let run = spawn_run(&p, &url);
    cluster.wait_for_jobs(2);
    cluster.kill_scheduler();
    let out = run.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.starts_with("error: job `weekly-leadership` failed: "), "{stderr}");
    assert!(stderr.contains(": query failed on the Ballista cluster: "), "{stderr}");
    assert!(stderr.contains("; if an executor or the scheduler stopped, run the job again once the cluster is whole"), "{stderr}");
    assert_eq!(run_json(&p)["outcome"], "failed");

    // Stopped before the run: the run fails at once, naming the scheduler and what to do.
    let mut p = p;
    p.env("PARETO_ENGINE", &url);
    let out = p.run(&RUN);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(
        out.stderr,
        format!(
            "error: job `weekly-leadership` failed: the Ballista scheduler at {url} does not answer (Connection refused (os error 111)); \
             start it (`pareto cluster scheduler`) and its executors, or set `engine = \"embedded\"` for the job\n\
             the run is recorded in {RUN_DIR}/run.json\n"
        )
    );
    let record = run_json(&p);
    assert_eq!(record["outcome"], "failed");
    assert_eq!(record["engine"], url);
}

#[test]
fn check_says_what_cannot_run_on_a_cluster_without_needing_one() {
    let mut p = TestProject::bundled();
    crate::support::lake::write(&p.root);
    let url = format!("ballista://127.0.0.1:{}", crate::support::closed_port());
    p.env("PARETO_ENGINE", &url);
    // A recursive query runs embedded but not on a cluster.
    p.file(
        "queries/countdown.sql",
        "-- Weeks counted down with a recursive query.\nWITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t WHERE n < 5)\nSELECT n FROM t\n",
    );
    let job = p.read("jobs/weekly-leadership.toml");
    p.file("jobs/weekly-leadership.toml", &job.replacen("queries = [", "queries = [\"countdown\", ", 1));
    let out = p.run(&["check", "weekly-leadership"]);
    assert_eq!(out.code, 2, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.starts_with(
            "queries/countdown.sql: cannot run on the Ballista cluster: a recursive query (`WITH RECURSIVE`) needs its work table in one process; \
             write it without recursion, or run the job with `engine = \"embedded\"`\n"
        ),
        "{}",
        out.stdout
    );
    // The bundled queries all travel; only the recursive one is refused.
    assert!(out.stdout.contains("\n1 problem(s) found"), "{}", out.stdout);
    assert!(
        out.stdout.contains(&format!(
            "note: jobs/weekly-leadership.toml: the Ballista scheduler at {url} does not answer now (Connection refused (os error 111)); its runs fail until it does"
        )),
        "{}",
        out.stdout
    );
    // The same job on the embedded engine checks clean.
    p.env("PARETO_ENGINE", "embedded");
    p.run(&["check", "weekly-leadership"]).expect(0);
}

//! A lake in an S3-compatible object store (moto's server mode).

use crate::support::TestProject;
use crate::support::moto::Moto;

#[test]
fn a_job_reads_its_lake_from_s3() {
    let moto = Moto::start();
    moto.upload_hand_lake("lake", "prod");

    let mut p = TestProject::bundled();
    for (k, v) in moto.env() {
        p.env(&k, &v);
    }
    p.file(
        "jobs/weekly-leadership.toml",
        &p.read("jobs/weekly-leadership.toml").replace("period = \"week\"", "period = \"week\"\nlake = \"s3://lake/prod\""),
    );
    let out = p.run(&["run", "weekly-leadership", "--as-of", "2026-11-23", "--dry-run"]);
    out.expect(0);
    let headline: serde_json::Value =
        serde_json::from_str(&p.read("archive/weekly-leadership/2026-W47.preview/results/headline.json")).unwrap();
    assert_eq!(headline["rows"][0]["revenue"], "1400.00");
    assert_eq!(headline["rows"][0]["orders"], 4);

    // A table the bucket lacks is reported against the S3 lake.
    let out = p.run(&["query", "SELECT * FROM refunds", "--lake", "s3://lake/prod"]);
    out.expect(1);
    assert!(out.stderr.contains("table `refunds` is neither a table in the lake `s3://lake/prod` nor a query"), "{}", out.stderr);
}

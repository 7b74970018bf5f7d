//! A lake in an S3-compatible object store (moto's server mode).

use crate::support::moto::Moto;
use crate::support::{TestProject, lake};
use object_store::ObjectStoreExt;

#[test]
fn a_job_reads_its_lake_from_s3() {
    let moto = Moto::start();
    moto.create_bucket("lake");
    // Upload the hand-made lake.
    let local = TestProject::new();
    lake::write(&local.root);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let store = object_store::aws::AmazonS3Builder::new()
        .with_endpoint(moto.endpoint())
        .with_allow_http(true)
        .with_bucket_name("lake")
        .with_access_key_id("testing")
        .with_secret_access_key("testing")
        .with_region("us-east-1")
        .build()
        .unwrap();
    for f in [
        "customers/customers.parquet",
        "orders/part-0.parquet",
        "orders/part-1.parquet",
        "subscriptions/subscriptions.parquet",
        "tickets/tickets.parquet",
        "csat/csat.parquet",
        "nps/nps.parquet",
    ] {
        let bytes = std::fs::read(local.path(&format!("lake/{f}"))).unwrap();
        rt.block_on(store.put(&object_store::path::Path::from(format!("prod/{f}")), bytes.into())).unwrap();
    }

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

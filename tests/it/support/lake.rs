//! A small hand-made lake whose figures are worked out by hand in the tests.
//!
//! Week 2026-W47 in Europe/Amsterdam runs from 2026-11-15T23:00Z to 2026-11-22T23:00Z;
//! week 2026-W46 from 2026-11-08T23:00Z.
//!
//! | customer | employees | size       | signup     | W47 orders              | W46 orders |
//! |----------|-----------|------------|------------|-------------------------|------------|
//! | 1 Acme   | 5         | Solo       | 2024-01-10 | 101: 100.00             | 105: 80.00 |
//! | 2 Globex | 50        | SMB        | 2025-06-01 | 102: 250.50             | 106: 20.00 (23:59:59 Sunday local) |
//! | 3 Initech| 2000      | Enterprise | 2026-11-18 | 103: 1000.00 (23:30 Sunday local) | – ; 104: 999.00 is W48 |
//! | 4 Umbrella| null     | Unknown    | 2026-11-10 | 107: 49.50 (first instant of W47) | – |
//!
//! W47: revenue 1400.00, 4 orders, 4 active customers, AOV 350.00, 1 new customer (Initech).
//! W46: revenue 100.00, 2 orders, 2 active customers, AOV 50.00, 1 new customer (Umbrella).

use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Decimal128Array, Int32Array, Int64Array, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use std::path::Path;
use std::sync::Arc;

pub fn write_parquet(path: &Path, batch: &RecordBatch) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let f = std::fs::File::create(path).unwrap();
    let mut w = ArrowWriter::try_new(f, batch.schema(), None).unwrap();
    w.write(batch).unwrap();
    w.close().unwrap();
}

pub fn micros(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339).unwrap().timestamp_micros()
}

pub fn days(date: &str) -> i32 {
    (chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").unwrap() - chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()).num_days() as i32
}

fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// The columns of the hand-made `customers` table.
pub fn customer_fields() -> Vec<Field> {
    vec![
        Field::new("customer_id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, false),
        Field::new("signup_date", DataType::Date32, false),
        Field::new("country", DataType::Utf8, false),
        Field::new("region", DataType::Utf8, false),
        Field::new("city", DataType::Utf8, false),
        Field::new("industry", DataType::Utf8, false),
        Field::new("employees", DataType::Int32, true),
        Field::new("birth_year", DataType::Int32, true),
        Field::new("strategic", DataType::Boolean, true),
        Field::new("referred_by", DataType::Int64, true),
    ]
}

pub fn customers() -> RecordBatch {
    let schema = Arc::new(Schema::new(customer_fields()));
    let cols: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(vec![1, 2, 3, 4])),
        Arc::new(StringArray::from(vec!["Acme", "Globex", "Initech", "Umbrella"])),
        Arc::new(Date32Array::from(vec![days("2024-01-10"), days("2025-06-01"), days("2026-11-18"), days("2026-11-10")])),
        Arc::new(StringArray::from(vec!["NL", "US", "DE", "GB"])),
        Arc::new(StringArray::from(vec!["Europe", "North America", "Europe", "Europe"])),
        Arc::new(StringArray::from(vec!["Amsterdam", "Austin", "Berlin", "London"])),
        Arc::new(StringArray::from(vec!["Software", "Retail", "Finance", "Healthcare"])),
        Arc::new(Int32Array::from(vec![Some(5), Some(50), Some(2000), None])),
        Arc::new(Int32Array::from(vec![Some(1980), None, None, None])),
        Arc::new(BooleanArray::from(vec![Some(false), Some(true), None, None])),
        Arc::new(Int64Array::from(vec![None, Some(1), None, None])),
    ];
    RecordBatch::try_new(schema, cols).unwrap()
}

pub fn orders_schema(amount: DataType) -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("order_id", DataType::Int64, false),
        Field::new("customer_id", DataType::Int64, false),
        Field::new("ordered_at", ts_type(), false),
        Field::new("amount", amount, false),
        Field::new("cost", DataType::Decimal128(18, 2), true),
        Field::new("channel", DataType::Utf8, false),
    ]))
}

pub fn orders() -> RecordBatch {
    orders_batch(&[
        (105, 1, "2026-11-10T12:00:00Z", 8000, Some(5000), "web"),
        (106, 2, "2026-11-15T22:59:59Z", 2000, None, "web"),
        (107, 4, "2026-11-15T23:00:00Z", 4950, Some(2000), "app"),
        (101, 1, "2026-11-16T09:00:00Z", 10000, Some(6000), "web"),
        (102, 2, "2026-11-17T10:00:00Z", 25050, None, "sales"),
        (103, 3, "2026-11-22T22:30:00Z", 100000, Some(40000), "sales"),
        (104, 3, "2026-11-22T23:00:00Z", 99900, Some(50000), "sales"),
    ])
}

/// Orders as (order_id, customer_id, ordered_at, amount in cents, cost in cents, channel).
pub fn orders_batch(rows: &[(i64, i64, &str, i128, Option<i128>, &str)]) -> RecordBatch {
    let cols: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(rows.iter().map(|r| r.0).collect::<Vec<_>>())),
        Arc::new(Int64Array::from(rows.iter().map(|r| r.1).collect::<Vec<_>>())),
        Arc::new(TimestampMicrosecondArray::from(rows.iter().map(|r| micros(r.2)).collect::<Vec<_>>()).with_timezone("UTC")),
        Arc::new(Decimal128Array::from(rows.iter().map(|r| r.3).collect::<Vec<_>>()).with_precision_and_scale(18, 2).unwrap()),
        Arc::new(Decimal128Array::from(rows.iter().map(|r| r.4).collect::<Vec<_>>()).with_precision_and_scale(18, 2).unwrap()),
        Arc::new(StringArray::from(rows.iter().map(|r| r.5).collect::<Vec<_>>())),
    ];
    RecordBatch::try_new(orders_schema(DataType::Decimal128(18, 2)), cols).unwrap()
}

/// Subscriptions: Acme pays 49.00 a month from September 2026; Globex 299.00 in October and
/// 399.00 in November (an expansion); Initech (trial) and Umbrella none.
pub fn subscriptions() -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("customer_id", DataType::Int64, false),
        Field::new("month", DataType::Date32, false),
        Field::new("mrr", DataType::Decimal128(18, 2), false),
        Field::new("plan", DataType::Utf8, false),
    ]));
    let rows: Vec<(i64, &str, i128, &str)> = vec![
        (1, "2026-09-01", 4900, "Starter"),
        (1, "2026-10-01", 4900, "Starter"),
        (1, "2026-11-01", 4900, "Starter"),
        (2, "2026-10-01", 29900, "Team"),
        (2, "2026-11-01", 39900, "Team"),
    ];
    let cols: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(rows.iter().map(|r| r.0).collect::<Vec<_>>())),
        Arc::new(Date32Array::from(rows.iter().map(|r| days(r.1)).collect::<Vec<_>>())),
        Arc::new(Decimal128Array::from(rows.iter().map(|r| r.2).collect::<Vec<_>>()).with_precision_and_scale(18, 2).unwrap()),
        Arc::new(StringArray::from(rows.iter().map(|r| r.3).collect::<Vec<_>>())),
    ];
    RecordBatch::try_new(schema, cols).unwrap()
}

/// Support data. Week 2026-W47 (Amsterdam) is [2026-11-15T23:00Z, 2026-11-22T23:00Z).
///
/// | ticket | customer | created (UTC)  | first reply | solved            | channel | reason          | replies | reopens | escalated | sentiment |
/// |--------|----------|----------------|-------------|-------------------|---------|-----------------|---------|---------|-----------|-----------|
/// | 201    | 1 Acme   | 11-16 08:00    | +2 h        | 11-16 18:00 (10 h)| email   | Billing         | 2       | 0       | no        | 0.5       |
/// | 202    | 2 Globex | 11-17 09:00    | +4 h        | 11-18 09:00 (24 h)| chat    | Bug report      | 4       | 1       | yes       | -0.5      |
/// | 203    | 3 Initech| 11-18 12:00    | +1 h        | open              | email   | How-to question | 1       | 0       | no        | –         |
/// | 204    | 2 Globex | 11-20 10:00    | none        | open              | email   | Billing         | 0       | 0       | no        | 0.0       |
/// | 205    | 1 Acme   | 11-10 10:00 (W46)| +6 h      | 11-16 10:00 (144 h, in W47) | phone | Login and access | 3 | 0 | no    | 0.2       |
/// | 206    | 4 Umbrella| 11-12 10:00 (W46)| +3 h     | 11-12 15:00 (5 h) | web     | How-to question | 1       | 0       | no        | 0.8       |
/// | 207    | 99 (not a customer) | 11-22 10:00 | none | 11-22 09:00 (before it was created: bad data) | web | Billing | 0 | 0 | no | – |
///
/// CSAT: 201 → 5 (11-17), 202 → 2 (11-19), 205 → 4 (11-16, a ticket from the week before), 206 → 5
/// (11-13, W46). NPS: Acme 9 (11-18), Globex 6 (11-19), Initech 8 (11-20), Umbrella 10 (11-11, W46).
pub fn tickets() -> RecordBatch {
    let ts = || DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let schema = Arc::new(Schema::new(vec![
        Field::new("ticket_id", DataType::Int64, false),
        Field::new("customer_id", DataType::Int64, false),
        Field::new("created_at", ts(), false),
        Field::new("first_reply_at", ts(), true),
        Field::new("solved_at", ts(), true),
        Field::new("channel", DataType::Utf8, false),
        Field::new("reason", DataType::Utf8, false),
        Field::new("priority", DataType::Utf8, false),
        Field::new("status", DataType::Utf8, false),
        Field::new("agent_replies", DataType::Int32, false),
        Field::new("reopens", DataType::Int32, false),
        Field::new("escalated", DataType::Boolean, false),
        Field::new("resolution", DataType::Utf8, true),
        Field::new("sentiment", DataType::Float64, true),
    ]));
    type Row = (
        i64,
        i64,
        &'static str,
        Option<&'static str>,
        Option<&'static str>,
        &'static str,
        &'static str,
        i32,
        i32,
        bool,
        Option<&'static str>,
        Option<f64>,
    );
    let rows: Vec<Row> = vec![
        (
            201,
            1,
            "2026-11-16T08:00:00Z",
            Some("2026-11-16T10:00:00Z"),
            Some("2026-11-16T18:00:00Z"),
            "email",
            "Billing",
            2,
            0,
            false,
            Some("agent"),
            Some(0.5),
        ),
        (
            202,
            2,
            "2026-11-17T09:00:00Z",
            Some("2026-11-17T13:00:00Z"),
            Some("2026-11-18T09:00:00Z"),
            "chat",
            "Bug report",
            4,
            1,
            true,
            Some("bug fix"),
            Some(-0.5),
        ),
        (203, 3, "2026-11-18T12:00:00Z", Some("2026-11-18T13:00:00Z"), None, "email", "How-to question", 1, 0, false, None, None),
        (204, 2, "2026-11-20T10:00:00Z", None, None, "email", "Billing", 0, 0, false, None, Some(0.0)),
        (
            205,
            1,
            "2026-11-10T10:00:00Z",
            Some("2026-11-10T16:00:00Z"),
            Some("2026-11-16T10:00:00Z"),
            "phone",
            "Login and access",
            3,
            0,
            false,
            Some("agent"),
            Some(0.2),
        ),
        (
            206,
            4,
            "2026-11-12T10:00:00Z",
            Some("2026-11-12T13:00:00Z"),
            Some("2026-11-12T15:00:00Z"),
            "web",
            "How-to question",
            1,
            0,
            false,
            Some("self-service"),
            Some(0.8),
        ),
        (207, 99, "2026-11-22T10:00:00Z", None, Some("2026-11-22T09:00:00Z"), "web", "Billing", 0, 0, false, None, None),
    ];
    let t = |v: Option<&str>| v.map(micros);
    let cols: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(rows.iter().map(|r| r.0).collect::<Vec<_>>())),
        Arc::new(Int64Array::from(rows.iter().map(|r| r.1).collect::<Vec<_>>())),
        Arc::new(TimestampMicrosecondArray::from(rows.iter().map(|r| micros(r.2)).collect::<Vec<_>>()).with_timezone("UTC")),
        Arc::new(TimestampMicrosecondArray::from(rows.iter().map(|r| t(r.3)).collect::<Vec<_>>()).with_timezone("UTC")),
        Arc::new(TimestampMicrosecondArray::from(rows.iter().map(|r| t(r.4)).collect::<Vec<_>>()).with_timezone("UTC")),
        Arc::new(StringArray::from(rows.iter().map(|r| r.5).collect::<Vec<_>>())),
        Arc::new(StringArray::from(rows.iter().map(|r| r.6).collect::<Vec<_>>())),
        Arc::new(StringArray::from(vec!["normal"; rows.len()])),
        Arc::new(StringArray::from(rows.iter().map(|r| if r.4.is_some() { "solved" } else { "open" }).collect::<Vec<_>>())),
        Arc::new(Int32Array::from(rows.iter().map(|r| r.7).collect::<Vec<_>>())),
        Arc::new(Int32Array::from(rows.iter().map(|r| r.8).collect::<Vec<_>>())),
        Arc::new(BooleanArray::from(rows.iter().map(|r| r.9).collect::<Vec<_>>())),
        Arc::new(StringArray::from(rows.iter().map(|r| r.10).collect::<Vec<_>>())),
        Arc::new(datafusion::arrow::array::Float64Array::from(rows.iter().map(|r| r.11).collect::<Vec<_>>())),
    ];
    RecordBatch::try_new(schema, cols).unwrap()
}

pub fn csat() -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("ticket_id", DataType::Int64, false),
        Field::new("customer_id", DataType::Int64, false),
        Field::new("rated_at", ts_type(), false),
        Field::new("score", DataType::Int32, false),
    ]));
    let rows = [
        (201, 1, "2026-11-17T08:00:00Z", 5),
        (202, 2, "2026-11-19T08:00:00Z", 2),
        (205, 1, "2026-11-16T12:00:00Z", 4),
        (206, 4, "2026-11-13T08:00:00Z", 5),
    ];
    let cols: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(rows.iter().map(|r| r.0).collect::<Vec<_>>())),
        Arc::new(Int64Array::from(rows.iter().map(|r| r.1).collect::<Vec<_>>())),
        Arc::new(TimestampMicrosecondArray::from(rows.iter().map(|r| micros(r.2)).collect::<Vec<_>>()).with_timezone("UTC")),
        Arc::new(Int32Array::from(rows.iter().map(|r| r.3).collect::<Vec<_>>())),
    ];
    RecordBatch::try_new(schema, cols).unwrap()
}

pub fn nps() -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("customer_id", DataType::Int64, false),
        Field::new("responded_at", ts_type(), false),
        Field::new("score", DataType::Int32, false),
    ]));
    let rows =
        [(1, "2026-11-18T09:00:00Z", 9), (2, "2026-11-19T09:00:00Z", 6), (3, "2026-11-20T09:00:00Z", 8), (4, "2026-11-11T09:00:00Z", 10)];
    let cols: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(rows.iter().map(|r| r.0).collect::<Vec<_>>())),
        Arc::new(TimestampMicrosecondArray::from(rows.iter().map(|r| micros(r.1)).collect::<Vec<_>>()).with_timezone("UTC")),
        Arc::new(Int32Array::from(rows.iter().map(|r| r.2).collect::<Vec<_>>())),
    ];
    RecordBatch::try_new(schema, cols).unwrap()
}

/// Write the lake above under `root/lake`: orders split over two files to show a table is a folder.
pub fn write(root: &Path) {
    let lake = root.join("lake");
    write_parquet(&lake.join("customers/customers.parquet"), &customers());
    let o = orders();
    write_parquet(&lake.join("orders/part-0.parquet"), &o.slice(0, 3));
    write_parquet(&lake.join("orders/part-1.parquet"), &o.slice(3, 4));
    write_parquet(&lake.join("subscriptions/subscriptions.parquet"), &subscriptions());
    write_parquet(&lake.join("tickets/tickets.parquet"), &tickets());
    write_parquet(&lake.join("csat/csat.parquet"), &csat());
    write_parquet(&lake.join("nps/nps.parquet"), &nps());
}

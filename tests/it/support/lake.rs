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

pub fn customers() -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
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
    ]));
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
    let rows: Vec<(i64, i64, &str, i128, Option<i128>, &str)> = vec![
        (105, 1, "2026-11-10T12:00:00Z", 8000, Some(5000), "web"),
        (106, 2, "2026-11-15T22:59:59Z", 2000, None, "web"),
        (107, 4, "2026-11-15T23:00:00Z", 4950, Some(2000), "app"),
        (101, 1, "2026-11-16T09:00:00Z", 10000, Some(6000), "web"),
        (102, 2, "2026-11-17T10:00:00Z", 25050, None, "sales"),
        (103, 3, "2026-11-22T22:30:00Z", 100000, Some(40000), "sales"),
        (104, 3, "2026-11-22T23:00:00Z", 99900, Some(50000), "sales"),
    ];
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

/// Write the lake above under `root/lake`: orders split over two files to show a table is a folder.
pub fn write(root: &Path) {
    let lake = root.join("lake");
    write_parquet(&lake.join("customers/customers.parquet"), &customers());
    let o = orders();
    write_parquet(&lake.join("orders/part-0.parquet"), &o.slice(0, 3));
    write_parquet(&lake.join("orders/part-1.parquet"), &o.slice(3, 4));
    write_parquet(&lake.join("subscriptions/subscriptions.parquet"), &subscriptions());
}

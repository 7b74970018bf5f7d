//! Column buffers for each contract table, and a writer that streams them into yearly Parquet
//! files (row groups of up to one million rows, Snappy-compressed, time-ordered).

use super::GenerateError;
use chrono::NaiveDate;
use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Decimal128Array, Float64Array, Int32Array, Int64Array, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::Compression;
use datafusion::parquet::file::properties::WriterProperties;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn ts() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

fn money() -> DataType {
    DataType::Decimal128(18, 2)
}

fn days(d: NaiveDate) -> i32 {
    (d - NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()).num_days() as i32
}

fn dec(v: Vec<Option<i128>>) -> ArrayRef {
    Arc::new(Decimal128Array::from(v).with_precision_and_scale(18, 2).expect("valid decimal"))
}

fn tsa(v: Vec<Option<i64>>) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from(v).with_timezone("UTC"))
}

/// A buffer of rows for one table.
pub trait Table: Default {
    fn schema() -> SchemaRef;
    fn len(&self) -> usize;
    fn into_batch(self) -> RecordBatch;
}

pub struct Customer {
    pub customer_id: i64,
    pub name: String,
    pub signup_date: NaiveDate,
    pub country: String,
    pub region: &'static str,
    pub city: String,
    pub industry: &'static str,
    pub employees: Option<i32>,
    pub birth_year: Option<i32>,
    pub strategic: Option<bool>,
    pub referred_by: Option<i64>,
    pub owner_id: Option<i64>,
}

#[derive(Default)]
pub struct Customers(Vec<Customer>);

impl Customers {
    pub fn push(&mut self, c: Customer) {
        self.0.push(c);
    }
}

impl Table for Customers {
    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
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
            Field::new("owner_id", DataType::Int64, true),
        ]))
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn into_batch(self) -> RecordBatch {
        let r = &self.0;
        let cols: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from_iter_values(r.iter().map(|c| c.customer_id))),
            Arc::new(StringArray::from_iter_values(r.iter().map(|c| c.name.as_str()))),
            Arc::new(Date32Array::from_iter_values(r.iter().map(|c| days(c.signup_date)))),
            Arc::new(StringArray::from_iter_values(r.iter().map(|c| c.country.as_str()))),
            Arc::new(StringArray::from_iter_values(r.iter().map(|c| c.region))),
            Arc::new(StringArray::from_iter_values(r.iter().map(|c| c.city.as_str()))),
            Arc::new(StringArray::from_iter_values(r.iter().map(|c| c.industry))),
            Arc::new(Int32Array::from(r.iter().map(|c| c.employees).collect::<Vec<_>>())),
            Arc::new(Int32Array::from(r.iter().map(|c| c.birth_year).collect::<Vec<_>>())),
            Arc::new(BooleanArray::from(r.iter().map(|c| c.strategic).collect::<Vec<_>>())),
            Arc::new(Int64Array::from(r.iter().map(|c| c.referred_by).collect::<Vec<_>>())),
            Arc::new(Int64Array::from(r.iter().map(|c| c.owner_id).collect::<Vec<_>>())),
        ];
        RecordBatch::try_new(Self::schema(), cols).expect("customers batch")
    }
}

/// Account managers: `(owner_id, name, email, team)`.
#[derive(Default)]
pub struct Owners(pub Vec<(i64, String, String, &'static str)>);

impl Table for Owners {
    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("owner_id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, false),
            Field::new("email", DataType::Utf8, true),
            Field::new("team", DataType::Utf8, false),
        ]))
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn into_batch(self) -> RecordBatch {
        let r = &self.0;
        let cols: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from_iter_values(r.iter().map(|o| o.0))),
            Arc::new(StringArray::from_iter_values(r.iter().map(|o| o.1.as_str()))),
            Arc::new(StringArray::from_iter_values(r.iter().map(|o| o.2.as_str()))),
            Arc::new(StringArray::from_iter_values(r.iter().map(|o| o.3))),
        ];
        RecordBatch::try_new(Self::schema(), cols).expect("owners batch")
    }
}

#[derive(Default)]
pub struct Orders {
    rows: Vec<(i64, i64, i64, i128, Option<i128>, &'static str)>,
}

impl Orders {
    pub fn push(&mut self, order_id: i64, customer_id: i64, at: i64, amount: i128, cost: Option<i128>, channel: &'static str) {
        self.rows.push((order_id, customer_id, at, amount, cost, channel));
    }
    pub fn sort(&mut self) {
        self.rows.sort_by_key(|r| (r.2, r.0));
    }
}

impl Table for Orders {
    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("order_id", DataType::Int64, false),
            Field::new("customer_id", DataType::Int64, false),
            Field::new("ordered_at", ts(), false),
            Field::new("amount", money(), false),
            Field::new("cost", money(), true),
            Field::new("channel", DataType::Utf8, false),
        ]))
    }
    fn len(&self) -> usize {
        self.rows.len()
    }
    fn into_batch(self) -> RecordBatch {
        let r = &self.rows;
        let cols: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from_iter_values(r.iter().map(|o| o.0))),
            Arc::new(Int64Array::from_iter_values(r.iter().map(|o| o.1))),
            Arc::new(TimestampMicrosecondArray::from_iter_values(r.iter().map(|o| o.2)).with_timezone("UTC")),
            dec(r.iter().map(|o| Some(o.3)).collect()),
            dec(r.iter().map(|o| o.4).collect()),
            Arc::new(StringArray::from_iter_values(r.iter().map(|o| o.5))),
        ];
        RecordBatch::try_new(Self::schema(), cols).expect("orders batch")
    }
}

#[derive(Default)]
pub struct Subscriptions {
    rows: Vec<(i64, NaiveDate, i128, &'static str)>,
}

impl Subscriptions {
    pub fn push(&mut self, customer_id: i64, month: NaiveDate, mrr: i128, plan: &'static str) {
        self.rows.push((customer_id, month, mrr, plan));
    }
}

impl Table for Subscriptions {
    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("customer_id", DataType::Int64, false),
            Field::new("month", DataType::Date32, false),
            Field::new("mrr", money(), false),
            Field::new("plan", DataType::Utf8, false),
        ]))
    }
    fn len(&self) -> usize {
        self.rows.len()
    }
    fn into_batch(self) -> RecordBatch {
        let r = &self.rows;
        let cols: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from_iter_values(r.iter().map(|s| s.0))),
            Arc::new(Date32Array::from_iter_values(r.iter().map(|s| days(s.1)))),
            dec(r.iter().map(|s| Some(s.2)).collect()),
            Arc::new(StringArray::from_iter_values(r.iter().map(|s| s.3))),
        ];
        RecordBatch::try_new(Self::schema(), cols).expect("subscriptions batch")
    }
}

pub struct Ticket {
    pub ticket_id: i64,
    pub customer_id: i64,
    pub created_at: i64,
    pub first_reply_at: Option<i64>,
    pub solved_at: Option<i64>,
    pub channel: &'static str,
    pub reason: &'static str,
    pub priority: &'static str,
    pub status: &'static str,
    pub agent_replies: i32,
    pub reopens: i32,
    pub escalated: bool,
    pub resolution: Option<&'static str>,
    pub sentiment: Option<f64>,
}

#[derive(Default)]
pub struct Tickets(Vec<Ticket>);

impl Tickets {
    pub fn push(&mut self, t: Ticket) {
        self.0.push(t);
    }
    pub fn sort(&mut self) {
        self.0.sort_by_key(|t| (t.created_at, t.ticket_id));
    }
}

impl Table for Tickets {
    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
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
        ]))
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn into_batch(self) -> RecordBatch {
        let r = &self.0;
        let cols: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from_iter_values(r.iter().map(|t| t.ticket_id))),
            Arc::new(Int64Array::from_iter_values(r.iter().map(|t| t.customer_id))),
            tsa(r.iter().map(|t| Some(t.created_at)).collect()),
            tsa(r.iter().map(|t| t.first_reply_at).collect()),
            tsa(r.iter().map(|t| t.solved_at).collect()),
            Arc::new(StringArray::from_iter_values(r.iter().map(|t| t.channel))),
            Arc::new(StringArray::from_iter_values(r.iter().map(|t| t.reason))),
            Arc::new(StringArray::from_iter_values(r.iter().map(|t| t.priority))),
            Arc::new(StringArray::from_iter_values(r.iter().map(|t| t.status))),
            Arc::new(Int32Array::from_iter_values(r.iter().map(|t| t.agent_replies))),
            Arc::new(Int32Array::from_iter_values(r.iter().map(|t| t.reopens))),
            Arc::new(BooleanArray::from(r.iter().map(|t| t.escalated).collect::<Vec<_>>())),
            Arc::new(StringArray::from(r.iter().map(|t| t.resolution).collect::<Vec<_>>())),
            Arc::new(Float64Array::from(r.iter().map(|t| t.sentiment).collect::<Vec<_>>())),
        ];
        RecordBatch::try_new(Self::schema(), cols).expect("tickets batch")
    }
}

#[derive(Default)]
pub struct Csat {
    rows: Vec<(i64, i64, i64, i32)>,
}

impl Csat {
    pub fn push(&mut self, ticket_id: i64, customer_id: i64, rated_at: i64, score: i32) {
        self.rows.push((ticket_id, customer_id, rated_at, score));
    }
}

impl Table for Csat {
    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("ticket_id", DataType::Int64, false),
            Field::new("customer_id", DataType::Int64, false),
            Field::new("rated_at", ts(), false),
            Field::new("score", DataType::Int32, false),
        ]))
    }
    fn len(&self) -> usize {
        self.rows.len()
    }
    fn into_batch(self) -> RecordBatch {
        let r = &self.rows;
        let cols: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from_iter_values(r.iter().map(|c| c.0))),
            Arc::new(Int64Array::from_iter_values(r.iter().map(|c| c.1))),
            tsa(r.iter().map(|c| Some(c.2)).collect()),
            Arc::new(Int32Array::from_iter_values(r.iter().map(|c| c.3))),
        ];
        RecordBatch::try_new(Self::schema(), cols).expect("csat batch")
    }
}

#[derive(Default)]
pub struct Nps {
    rows: Vec<(i64, i64, i32)>,
}

impl Nps {
    pub fn push(&mut self, customer_id: i64, at: i64, score: i32) {
        self.rows.push((customer_id, at, score));
    }
}

impl Table for Nps {
    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("customer_id", DataType::Int64, false),
            Field::new("responded_at", ts(), false),
            Field::new("score", DataType::Int32, false),
        ]))
    }
    fn len(&self) -> usize {
        self.rows.len()
    }
    fn into_batch(self) -> RecordBatch {
        let r = &self.rows;
        let cols: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from_iter_values(r.iter().map(|c| c.0))),
            tsa(r.iter().map(|c| Some(c.1)).collect()),
            Arc::new(Int32Array::from_iter_values(r.iter().map(|c| c.2))),
        ];
        RecordBatch::try_new(Self::schema(), cols).expect("nps batch")
    }
}

/// Streams batches of one table into one Parquet file per year (`orders/orders-2026.parquet`);
/// year 0 means a single file named after the table.
pub struct Writer<T: Table> {
    dir: PathBuf,
    table: String,
    open: Option<(i32, PathBuf, ArrowWriter<File>)>,
    _t: std::marker::PhantomData<T>,
}

impl<T: Table> Writer<T> {
    pub fn new(out: &Path, table: &str) -> Self {
        Writer { dir: out.join(table), table: table.into(), open: None, _t: std::marker::PhantomData }
    }

    pub fn append(&mut self, year: i32, rows: T) -> Result<(), GenerateError> {
        if rows.len() == 0 && self.open.is_some() {
            return Ok(());
        }
        if self.open.as_ref().is_some_and(|(y, _, _)| *y != year) {
            self.close()?;
        }
        if self.open.is_none() {
            std::fs::create_dir_all(&self.dir).map_err(|source| GenerateError::Io { path: self.dir.clone(), source })?;
            let name = if year == 0 { format!("{}.parquet", self.table) } else { format!("{}-{year}.parquet", self.table) };
            // Written under a temporary name and renamed when complete, so an interrupted run
            // leaves no truncated Parquet file in the lake.
            let path = self.dir.join(format!("{name}.tmp"));
            let file = File::create(&path).map_err(|source| GenerateError::Io { path: path.clone(), source })?;
            let props =
                WriterProperties::builder().set_max_row_group_row_count(Some(1_000_000)).set_compression(Compression::SNAPPY).build();
            let w = ArrowWriter::try_new(file, T::schema(), Some(props))
                .map_err(|e| GenerateError::Parquet { path: path.clone(), message: e.to_string() })?;
            self.open = Some((year, path, w));
        }
        let (_, path, w) = self.open.as_mut().expect("opened above");
        if rows.len() > 0 {
            w.write(&rows.into_batch()).map_err(|e| GenerateError::Parquet { path: path.clone(), message: e.to_string() })?;
        }
        Ok(())
    }

    fn close(&mut self) -> Result<(), GenerateError> {
        if let Some((_, path, w)) = self.open.take() {
            w.close().map_err(|e| GenerateError::Parquet { path: path.clone(), message: e.to_string() })?;
            let done = path.with_extension("");
            std::fs::rename(&path, &done).map_err(|source| GenerateError::Io { path: done, source })?;
        }
        Ok(())
    }

    pub fn finish(mut self) -> Result<(), GenerateError> {
        if self.open.is_none() {
            // Always leave a file, even with no rows, so the table exists with its schema.
            self.append(0, T::default())?;
        }
        self.close()
    }
}

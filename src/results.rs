//! Query results as the template sees them (rows of named, typed values), and as files: Parquet
//! (every result, in the archive), JSON (what templates read) and CSV (attachments).

use crate::query::QueryResult;
use datafusion::arrow::array::*;
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use serde_json::{Map, Value, json};

/// A result as JSON: `{ "columns": [{name, type}], "rows": [{col: value}], "row_count": n }`.
/// Dates are ISO strings, timestamps RFC 3339 in UTC, decimals exact strings, nulls null.
pub fn to_json(r: &QueryResult) -> Value {
    to_json_limited(r, usize::MAX)
}

/// [`to_json`] with at most `max_rows` rows; `row_count` is still the result's, and `truncated`
/// says whether rows were left out.
pub fn to_json_limited(r: &QueryResult, max_rows: usize) -> Value {
    let columns: Vec<Value> = r.schema.fields().iter().map(|f| json!({ "name": f.name(), "type": type_name(f.data_type()) })).collect();
    let mut v = json!({ "columns": columns, "rows": rows(&first_rows(&r.batches, max_rows)), "row_count": r.rows });
    if r.rows > max_rows {
        v["truncated"] = json!(true);
    }
    v
}

/// The batches' first `max_rows` rows (slices, nothing copied).
fn first_rows(batches: &[RecordBatch], max_rows: usize) -> Vec<RecordBatch> {
    let mut out = Vec::new();
    let mut left = max_rows;
    for b in batches {
        if left == 0 {
            break;
        }
        let take = b.num_rows().min(left);
        out.push(b.slice(0, take));
        left -= take;
    }
    out
}

/// Write a result as JSON (the shape of [`to_json_limited`], indented) one batch at a time, so a
/// large result never exists as one JSON value in memory.
pub fn write_json(r: &QueryResult, max_rows: usize, out: &mut impl std::io::Write) -> std::io::Result<()> {
    let columns: Vec<Value> = r.schema.fields().iter().map(|f| json!({ "name": f.name(), "type": type_name(f.data_type()) })).collect();
    let truncated = if r.rows > max_rows { ",\n  \"truncated\": true" } else { "" };
    writeln!(out, "{{\n  \"columns\": {},\n  \"row_count\": {}{truncated},\n  \"rows\": [", serde_json::to_string(&columns)?, r.rows)?;
    let mut first = true;
    for b in &first_rows(&r.batches, max_rows) {
        for row in rows(std::slice::from_ref(b)) {
            if !first {
                writeln!(out, ",")?;
            }
            first = false;
            write!(out, "    {}", serde_json::to_string(&row)?)?;
        }
    }
    writeln!(out, "\n  ]\n}}")
}

/// A name for a column's type that a template author can read.
pub fn type_name(t: &DataType) -> &'static str {
    match t {
        t if t.is_integer() => "integer",
        t if t.is_floating() => "float",
        DataType::Decimal32(..) | DataType::Decimal64(..) | DataType::Decimal128(..) | DataType::Decimal256(..) => "decimal",
        DataType::Boolean => "boolean",
        DataType::Date32 | DataType::Date64 => "date",
        DataType::Timestamp(..) => "timestamp",
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "text",
        DataType::Dictionary(_, v) => type_name(v),
        DataType::List(_) | DataType::LargeList(_) => "list",
        _ => "other",
    }
}

/// Every row of `batches` as a JSON object keyed by column name.
pub fn rows(batches: &[RecordBatch]) -> Vec<Value> {
    let mut out = Vec::new();
    for b in batches {
        let schema = b.schema();
        let columns: Vec<Vec<Value>> = b.columns().iter().map(|c| values(c.as_ref())).collect();
        for i in 0..b.num_rows() {
            let mut row = Map::new();
            for (f, col) in schema.fields().iter().zip(&columns) {
                row.insert(f.name().clone(), col[i].clone());
            }
            out.push(Value::Object(row));
        }
    }
    out
}

fn num(f: f64) -> Value {
    serde_json::Number::from_f64(f).map(Value::Number).unwrap_or(Value::Null)
}

/// One column's values as JSON.
fn values(a: &dyn Array) -> Vec<Value> {
    macro_rules! prim {
        ($t:ty, $f:expr) => {{
            let a = a.as_any().downcast_ref::<$t>().expect("type checked");
            (0..a.len()).map(|i| if a.is_null(i) { Value::Null } else { $f(a.value(i)) }).collect()
        }};
    }
    match a.data_type() {
        DataType::Null => vec![Value::Null; a.len()],
        DataType::Boolean => prim!(BooleanArray, Value::Bool),
        DataType::Int8 => prim!(Int8Array, |v| json!(v)),
        DataType::Int16 => prim!(Int16Array, |v| json!(v)),
        DataType::Int32 => prim!(Int32Array, |v| json!(v)),
        DataType::Int64 => prim!(Int64Array, |v| json!(v)),
        DataType::UInt8 => prim!(UInt8Array, |v| json!(v)),
        DataType::UInt16 => prim!(UInt16Array, |v| json!(v)),
        DataType::UInt32 => prim!(UInt32Array, |v| json!(v)),
        DataType::UInt64 => prim!(UInt64Array, |v| json!(v)),
        DataType::Float16 => {
            let wide = datafusion::arrow::compute::cast(a, &DataType::Float64).expect("f16 casts to f64");
            values(wide.as_ref())
        }
        DataType::Float32 => prim!(Float32Array, |v: f32| num(v as f64)),
        DataType::Float64 => prim!(Float64Array, num),
        DataType::Utf8 => prim!(StringArray, |v: &str| Value::String(v.to_string())),
        DataType::LargeUtf8 => prim!(LargeStringArray, |v: &str| Value::String(v.to_string())),
        DataType::Utf8View => prim!(StringViewArray, |v: &str| Value::String(v.to_string())),
        DataType::Timestamp(unit, _) => {
            let to_rfc = |v: i64| -> Value {
                let (secs, nanos) = match unit {
                    TimeUnit::Second => (v, 0),
                    TimeUnit::Millisecond => (v.div_euclid(1_000), v.rem_euclid(1_000) * 1_000_000),
                    TimeUnit::Microsecond => (v.div_euclid(1_000_000), v.rem_euclid(1_000_000) * 1_000),
                    TimeUnit::Nanosecond => (v.div_euclid(1_000_000_000), v.rem_euclid(1_000_000_000)),
                };
                chrono::DateTime::from_timestamp(secs, nanos as u32)
                    .map(|d| Value::String(d.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)))
                    .unwrap_or(Value::Null)
            };
            let ints = datafusion::arrow::compute::cast(a, &DataType::Int64).expect("timestamps cast to integers");
            let ints = ints.as_any().downcast_ref::<Int64Array>().expect("int64");
            (0..ints.len()).map(|i| if ints.is_null(i) { Value::Null } else { to_rfc(ints.value(i)) }).collect()
        }
        DataType::Dictionary(_, v) => {
            let plain = datafusion::arrow::compute::cast(a, v).expect("dictionaries cast to their values");
            values(plain.as_ref())
        }
        DataType::List(_) | DataType::LargeList(_) => {
            let plain = datafusion::arrow::compute::cast(a, &DataType::new_list(list_item(a.data_type()), true)).ok();
            match plain.as_ref().and_then(|p| p.as_any().downcast_ref::<ListArray>()) {
                Some(l) => {
                    (0..l.len()).map(|i| if l.is_null(i) { Value::Null } else { Value::Array(values(l.value(i).as_ref())) }).collect()
                }
                None => display(a),
            }
        }
        // Dates, decimals and everything else: Arrow's own exact text (ISO dates, decimals with
        // their scale).
        _ => display(a),
    }
}

fn list_item(t: &DataType) -> DataType {
    match t {
        DataType::List(f) | DataType::LargeList(f) => f.data_type().clone(),
        _ => DataType::Null,
    }
}

fn display(a: &dyn Array) -> Vec<Value> {
    let options = FormatOptions::default();
    match ArrayFormatter::try_new(a, &options) {
        Ok(f) => (0..a.len()).map(|i| if a.is_null(i) { Value::Null } else { Value::String(f.value(i).to_string()) }).collect(),
        Err(_) => vec![Value::Null; a.len()],
    }
}

/// A result as CSV with a header row.
pub fn to_csv(r: &QueryResult) -> Result<Vec<u8>, datafusion::arrow::error::ArrowError> {
    to_csv_limited(r, usize::MAX)
}

/// The first `max_rows` rows of a result as CSV with a header row.
pub fn to_csv_limited(r: &QueryResult, max_rows: usize) -> Result<Vec<u8>, datafusion::arrow::error::ArrowError> {
    let mut buf = Vec::new();
    write_csv(r, max_rows, &mut buf)?;
    Ok(buf)
}

/// Stream the first `max_rows` rows of a result as CSV with a header row.
pub fn write_csv(r: &QueryResult, max_rows: usize, out: &mut impl std::io::Write) -> Result<(), datafusion::arrow::error::ArrowError> {
    write_csv_with(r, max_rows, false, out)
}

/// The first `max_rows` rows of a result as a CSV file to email: text that a spreadsheet would
/// run as a formula (starting with `=`, `+`, `-`, `@`, a tab or a CR) gets a leading `'`, as
/// OWASP advises for CSV injection, so a lake value cannot make a recipient's spreadsheet call
/// out or run anything. Numbers are left as they are (a negative amount stays a number).
pub fn attachment_csv(r: &QueryResult, max_rows: usize) -> Result<Vec<u8>, datafusion::arrow::error::ArrowError> {
    let mut buf = Vec::new();
    write_csv_with(r, max_rows, true, &mut buf)?;
    Ok(buf)
}

fn write_csv_with(
    r: &QueryResult,
    max_rows: usize,
    neutralise: bool,
    out: &mut impl std::io::Write,
) -> Result<(), datafusion::arrow::error::ArrowError> {
    let mut w = datafusion::arrow::csv::WriterBuilder::new().with_header(true).build(out);
    w.write(&RecordBatch::new_empty(r.schema.clone()))?;
    let mut left = max_rows;
    for b in &r.batches {
        if left == 0 {
            break;
        }
        let take = b.num_rows().min(left);
        let slice = b.slice(0, take);
        if neutralise {
            w.write(&neutralised(&slice)?)?
        } else {
            w.write(&slice)?
        }
        left -= take;
    }
    Ok(())
}

/// `batch` with every text value a spreadsheet would read as a formula prefixed by `'`.
fn neutralised(batch: &RecordBatch) -> Result<RecordBatch, datafusion::arrow::error::ArrowError> {
    use datafusion::arrow::array::{Array, AsArray, StringArray};
    use datafusion::arrow::compute::cast;
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    let risky = |s: &str| s.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let mut fields = Vec::new();
    let mut columns = Vec::new();
    for (f, c) in batch.schema().fields().iter().zip(batch.columns()) {
        let text = matches!(f.data_type(), DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
            || matches!(f.data_type(), DataType::Dictionary(_, v) if matches!(**v, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View));
        if !text {
            fields.push(f.as_ref().clone());
            columns.push(c.clone());
            continue;
        }
        let as_utf8 = cast(c, &DataType::Utf8)?;
        let strings = as_utf8.as_string::<i32>();
        let safe: StringArray = strings.iter().map(|v| v.map(|s| if risky(s) { format!("'{s}") } else { s.to_string() })).collect();
        debug_assert_eq!(safe.len(), c.len());
        fields.push(Field::new(f.name(), DataType::Utf8, f.is_nullable()));
        columns.push(std::sync::Arc::new(safe) as _);
    }
    RecordBatch::try_new(std::sync::Arc::new(Schema::new(fields)), columns)
}

/// Write a result as a Parquet file (zstd), with its Arrow schema so it reads back with the same
/// types. Batches are written as they are: nothing is copied.
///
/// Each number column is encoded the way its values compress best (measured on a million-customer
/// week's results): a column that takes few distinct values (a customer's age in weeks, a price
/// list, a tier's score) keeps a dictionary; one whose values are mostly distinct (sums,
/// averages, predictions, ids) has none, and is written as deltas (integers, dates, timestamps:
/// a third smaller than plain values after zstd), split into byte streams (floats: the exponents,
/// signs and high bytes, mostly alike, then compress well) or left plain (decimals).
pub fn write_parquet(r: &QueryResult, out: impl std::io::Write + Send) -> Result<(), datafusion::parquet::errors::ParquetError> {
    use datafusion::parquet::basic::{Compression, Encoding, ZstdLevel};
    use datafusion::parquet::file::properties::WriterProperties;
    use datafusion::parquet::schema::types::ColumnPath;
    let mut props = WriterProperties::builder().set_compression(Compression::ZSTD(ZstdLevel::try_new(3)?));
    for (i, f) in r.schema.fields().iter().enumerate() {
        let t = f.data_type();
        let encoding = if t.is_integer() || matches!(t, DataType::Date32 | DataType::Date64 | DataType::Timestamp(..)) {
            Encoding::DELTA_BINARY_PACKED
        } else if matches!(t, DataType::Float32 | DataType::Float64) {
            Encoding::BYTE_STREAM_SPLIT
        } else if matches!(t, DataType::Decimal128(..) | DataType::Decimal256(..)) {
            // Decimals stay plain: byte streams of decimals (Parquet 2.11) are more than DuckDB
            // and older readers can read, and the archive is for any tool to open.
            Encoding::PLAIN
        } else {
            continue;
        };
        let path = ColumnPath::from(f.name().as_str());
        // With a dictionary, the encoding is what a page falls back to once the dictionary is full.
        props = props.set_column_encoding(path.clone(), encoding);
        if !few_distinct(&r.batches, i) {
            props = props.set_column_dictionary_enabled(path, false);
        }
    }
    let props = props.build();
    let mut w = datafusion::parquet::arrow::ArrowWriter::try_new(out, r.schema.clone(), Some(props))?;
    for b in &r.batches {
        w.write(b)?;
    }
    w.close()?;
    Ok(())
}

/// Whether a number column's values repeat enough for a dictionary to pay: at most one distinct
/// value in four among its first 8,192 values (nulls aside).
fn few_distinct(batches: &[RecordBatch], column: usize) -> bool {
    use datafusion::arrow::array::AsArray;
    const SAMPLE: usize = 8192;
    let mut seen: std::collections::HashSet<i128> = std::collections::HashSet::new();
    let mut sampled = 0;
    for b in batches {
        let a = b.column(column);
        let bits = |i: usize| -> Option<i128> {
            use datafusion::arrow::datatypes::*;
            Some(match a.data_type() {
                DataType::Float32 => a.as_primitive::<Float32Type>().value(i).to_bits() as i128,
                DataType::Float64 => a.as_primitive::<Float64Type>().value(i).to_bits() as i128,
                DataType::Decimal128(..) => a.as_primitive::<Decimal128Type>().value(i),
                DataType::Int8 => a.as_primitive::<Int8Type>().value(i) as i128,
                DataType::Int16 => a.as_primitive::<Int16Type>().value(i) as i128,
                DataType::Int32 => a.as_primitive::<Int32Type>().value(i) as i128,
                DataType::Int64 => a.as_primitive::<Int64Type>().value(i) as i128,
                DataType::UInt8 => a.as_primitive::<UInt8Type>().value(i) as i128,
                DataType::UInt16 => a.as_primitive::<UInt16Type>().value(i) as i128,
                DataType::UInt32 => a.as_primitive::<UInt32Type>().value(i) as i128,
                DataType::UInt64 => a.as_primitive::<UInt64Type>().value(i) as i128,
                DataType::Date32 => a.as_primitive::<Date32Type>().value(i) as i128,
                DataType::Date64 => a.as_primitive::<Date64Type>().value(i) as i128,
                DataType::Timestamp(TimeUnit::Second, _) => a.as_primitive::<TimestampSecondType>().value(i) as i128,
                DataType::Timestamp(TimeUnit::Millisecond, _) => a.as_primitive::<TimestampMillisecondType>().value(i) as i128,
                DataType::Timestamp(TimeUnit::Microsecond, _) => a.as_primitive::<TimestampMicrosecondType>().value(i) as i128,
                DataType::Timestamp(TimeUnit::Nanosecond, _) => a.as_primitive::<TimestampNanosecondType>().value(i) as i128,
                _ => return None,
            })
        };
        for i in 0..a.len() {
            if a.is_null(i) {
                continue;
            }
            // A type not listed (a 256-bit decimal) keeps parquet's default: a dictionary.
            let Some(v) = bits(i) else { return true };
            seen.insert(v);
            sampled += 1;
            if sampled == SAMPLE {
                return seen.len() * 4 <= sampled;
            }
        }
    }
    seen.len() * 4 <= sampled
}

/// Read a result written by [`write_parquet`].
pub fn read_parquet(path: &std::path::Path) -> Result<QueryResult, datafusion::parquet::errors::ParquetError> {
    let started = std::time::Instant::now();
    let file = std::fs::File::open(path)?;
    let reader = datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)?.build()?;
    let schema = reader.schema();
    let batches = reader.collect::<Result<Vec<_>, _>>()?;
    let name = path.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
    let result_bytes = batches.iter().map(|b| b.get_array_memory_size()).sum();
    Ok(QueryResult {
        name,
        schema,
        rows: batches.iter().map(|b| b.num_rows()).sum(),
        batches,
        elapsed: started.elapsed(),
        peak_bytes: 0,
        result_bytes,
        spilled_bytes: 0,
        off: None,
    })
}

/// A result as a text table for the terminal.
pub fn to_pretty(batches: &[RecordBatch]) -> String {
    datafusion::arrow::util::pretty::pretty_format_batches(batches).map(|t| t.to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::{Field, Schema};
    use datafusion::parquet::basic::Encoding;
    use datafusion::parquet::file::reader::{FileReader, SerializedFileReader};
    use std::sync::Arc;

    /// Each column's encodings in the written file, by column name.
    fn encodings(path: &std::path::Path) -> std::collections::BTreeMap<String, Vec<Encoding>> {
        let reader = SerializedFileReader::new(std::fs::File::open(path).unwrap()).unwrap();
        let rg = reader.metadata().row_group(0);
        rg.columns().iter().map(|c| (c.column_path().string(), c.encodings().collect::<Vec<_>>())).collect()
    }

    #[test]
    fn repeating_numbers_keep_a_dictionary_and_distinct_ones_are_split_or_deltas() {
        let n = 20_000usize;
        let schema = Arc::new(Schema::new(vec![
            Field::new("customer_id", DataType::Int64, false),
            Field::new("t", DataType::Float64, false),
            Field::new("value", DataType::Float64, true),
            Field::new("revenue", DataType::Decimal128(28, 2), false),
            Field::new("tier", DataType::Int32, false),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from_iter_values((0..n as i64).map(|i| i * 7919 % 1_000_003))),
                // a customer's age in weeks: a few hundred values
                Arc::new(Float64Array::from_iter_values((0..n).map(|i| (i % 300) as f64 / 7.0))),
                // predictions: every one different, some missing
                Arc::new(Float64Array::from_iter((0..n).map(|i| (i % 10 != 0).then(|| (i as f64).sqrt() * 1.37)))),
                Arc::new(
                    Decimal128Array::from_iter_values((0..n as i128).map(|i| i * 104_729 % 9_999_991))
                        .with_precision_and_scale(28, 2)
                        .unwrap(),
                ),
                Arc::new(Int32Array::from_iter_values((0..n as i32).map(|i| i % 4))),
            ],
        )
        .unwrap();
        let r = QueryResult {
            name: "r".into(),
            schema,
            rows: n,
            batches: vec![batch.clone()],
            elapsed: Default::default(),
            peak_bytes: 0,
            result_bytes: 0,
            spilled_bytes: 0,
            off: None,
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.parquet");
        write_parquet(&r, std::fs::File::create(&path).unwrap()).unwrap();
        let e = encodings(&path);
        let dictionary = |c: &str| e[c].contains(&Encoding::RLE_DICTIONARY);
        assert!(dictionary("t") && dictionary("tier"), "{e:?}");
        assert!(!dictionary("value") && e["value"].contains(&Encoding::BYTE_STREAM_SPLIT), "{e:?}");
        assert!(!dictionary("revenue") && !e["revenue"].contains(&Encoding::BYTE_STREAM_SPLIT), "{e:?}");
        assert!(!dictionary("customer_id") && e["customer_id"].contains(&Encoding::DELTA_BINARY_PACKED), "{e:?}");
        // and it reads back as it was
        let back = read_parquet(&path).unwrap();
        assert_eq!(back.schema, r.schema);
        assert_eq!(datafusion::arrow::compute::concat_batches(&back.schema, &back.batches).unwrap(), batch);
    }
}

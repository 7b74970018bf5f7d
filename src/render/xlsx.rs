//! A result as an Excel workbook to attach: one sheet of typed cells (numbers as numbers, dates
//! as dates, text as text), a bold header row that stays in view, a filter on it, and each
//! column in the number format the report uses (declared by the query or guessed from the name).

use super::format::{self, ColumnFormat, Declared};
use crate::query::QueryResult;
use crate::results;
use rust_xlsxwriter::{DocProperties, ExcelDateTime, Format, FormatBorder, Workbook, XlsxError};
use serde_json::Value;
use std::collections::BTreeMap;

/// Excel keeps at most this many characters in a cell.
const MAX_TEXT: usize = 32_767;

/// The first `max_rows` rows of `r` as an `.xlsx` file. `declared` holds the formats its query
/// declares; `currency` is the job's (money columns show its symbol). Text stays text: a value
/// that starts with `=` is a string cell, never a formula, whatever the lake holds.
pub fn workbook(r: &QueryResult, max_rows: usize, declared: &BTreeMap<String, Declared>, currency: &str) -> Result<Vec<u8>, String> {
    build(r, max_rows, declared, currency).map_err(|e| e.to_string())
}

fn build(r: &QueryResult, max_rows: usize, declared: &BTreeMap<String, Declared>, currency: &str) -> Result<Vec<u8>, XlsxError> {
    let json = results::to_json_limited(r, max_rows);
    let columns: Vec<(String, String)> = json["columns"]
        .as_array()
        .map(|cs| cs.iter().map(|c| (c["name"].as_str().unwrap_or_default().into(), c["type"].as_str().unwrap_or("text").into())).collect())
        .unwrap_or_default();
    let rows = json["rows"].as_array().cloned().unwrap_or_default();

    let mut wb = Workbook::new();
    // A fixed creation time: the same result makes the same bytes (the archive can be compared).
    wb.set_properties(&DocProperties::new().set_creation_datetime(&ExcelDateTime::from_ymd(2000, 1, 1)?));
    let sheet = wb.add_worksheet();
    sheet.set_name(sheet_name(&r.name))?;
    let header = Format::new().set_bold().set_border_bottom(FormatBorder::Thin);
    let prefix = format::currency_prefix(currency).replace('"', "");
    let mut widths = Vec::new();
    for (c, (name, type_name)) in columns.iter().enumerate() {
        let col = c as u16;
        let d = declared.get(name);
        let f = d.map(|d| d.format).unwrap_or_else(|| format::column_format(name, type_name));
        let values: Vec<&Value> = rows.iter().map(|row| row.get(name).unwrap_or(&Value::Null)).collect();
        // A spreadsheet is for working with the figures: money keeps its cents (the report shows
        // whole units once a column reaches 1,000); a declaration's decimals win.
        let decimals = d.and_then(|d| d.decimals).unwrap_or_else(|| match f {
            ColumnFormat::Money => 2,
            _ => format::column_decimals(f, values.iter().copied()),
        });
        let cell = Format::new().set_num_format(number_format(f, type_name, decimals, &prefix));
        sheet.write_string_with_format(0, col, name, &header)?;
        let mut width = name.chars().count();
        for (i, v) in values.iter().enumerate() {
            let row = i as u32 + 1;
            match (v, type_name.as_str()) {
                (Value::Null, _) => {}
                (Value::Bool(b), _) => sheet.write_boolean(row, col, *b).map(|_| ())?,
                (_, "integer" | "float" | "decimal") => match format::as_f64(v) {
                    Some(x) if x.is_finite() => {
                        sheet.write_number_with_format(row, col, x, &cell)?;
                        width = width.max(format::cell(v, f, currency, decimals).chars().count());
                    }
                    // NaN and infinities have no Excel number: written as the text they are.
                    _ => sheet.write_string(row, col, text(v)).map(|_| ())?,
                },
                (Value::String(s), "date") => match chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
                    Ok(day) => {
                        sheet.write_datetime_with_format(row, col, &day, &cell)?;
                        width = width.max(10);
                    }
                    Err(_) => sheet.write_string(row, col, s).map(|_| ())?,
                },
                (Value::String(s), "timestamp") => match chrono::DateTime::parse_from_rfc3339(s) {
                    // Times are UTC, as everywhere in the archive.
                    Ok(t) => {
                        sheet.write_datetime_with_format(row, col, &t.naive_utc(), &cell)?;
                        width = width.max(16);
                    }
                    Err(_) => sheet.write_string(row, col, s).map(|_| ())?,
                },
                _ => {
                    let t = text(v);
                    width = width.max(t.chars().count());
                    sheet.write_string(row, col, &t)?;
                }
            }
        }
        widths.push(width);
    }
    for (c, w) in widths.iter().enumerate() {
        sheet.set_column_width(c as u16, (*w as f64 + 2.0).min(60.0))?;
    }
    sheet.set_freeze_panes(1, 0)?;
    if !columns.is_empty() {
        sheet.autofilter(0, 0, rows.len() as u32, columns.len() as u16 - 1)?;
    }
    wb.save_to_buffer()
}

/// A cell's text: at most Excel's 32,767 characters, control characters (which XML cannot hold)
/// as spaces.
fn text(v: &Value) -> String {
    let s = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    s.chars().take(MAX_TEXT).map(|c| if c.is_control() && c != '\n' && c != '\t' { ' ' } else { c }).collect()
}

/// A sheet name Excel accepts: at most 31 characters, none of `[]:*?/\`.
fn sheet_name(name: &str) -> String {
    let clean: String = name.chars().filter(|c| !"[]:*?/\\".contains(*c)).take(31).collect();
    if clean.is_empty() { "result".into() } else { clean }
}

/// Excel's number format for a column shown as `f` in the report.
fn number_format(f: ColumnFormat, type_name: &str, decimals: usize, currency: &str) -> String {
    let places = if decimals == 0 { String::new() } else { format!(".{}", "0".repeat(decimals)) };
    match f {
        ColumnFormat::Integer => "#,##0".into(),
        ColumnFormat::Decimal => format!("#,##0{places}"),
        ColumnFormat::Money => format!("\"{currency}\"#,##0{places};-\"{currency}\"#,##0{places}"),
        ColumnFormat::Percent => format!("0{places}%"),
        ColumnFormat::Change => format!("+0{places}%;-0{places}%;0{places}%"),
        ColumnFormat::Points => format!("+0{places}\" pp\";-0{places}\" pp\";0{places}\" pp\""),
        ColumnFormat::Month => "mmm yyyy".into(),
        ColumnFormat::Date if type_name == "timestamp" => "yyyy-mm-dd hh:mm".into(),
        ColumnFormat::Date => "yyyy-mm-dd".into(),
        ColumnFormat::Text if type_name == "timestamp" => "yyyy-mm-dd hh:mm".into(),
        ColumnFormat::Text if type_name == "date" => "yyyy-mm-dd".into(),
        ColumnFormat::Text => "General".into(),
    }
}

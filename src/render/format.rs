//! How figures read in a report: pure formatting functions behind the template helpers.

use serde_json::Value;

/// Shown where there is no figure: never 0 or NaN.
pub const MISSING: &str = "–";

/// A JSON value as a number: numbers, and strings holding one (exact decimals arrive as strings).
pub fn as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64().filter(|f| f.is_finite()),
        Value::String(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
        Value::Bool(_) | Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

/// `1234567.891` with 2 decimals → `1,234,567.89`.
pub fn number(v: f64, decimals: usize) -> String {
    // Half away from zero, as people round money (format! alone rounds half to even).
    let scale = 10f64.powi(decimals as i32);
    let s = format!("{:.*}", decimals, (v.abs() * scale).round() / scale);
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i.to_string(), Some(f.to_string())),
        None => (s, None),
    };
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let negative = v < 0.0 && (grouped.chars().any(|c| c != '0' && c != ',') || frac.as_ref().is_some_and(|f| f.chars().any(|c| c != '0')));
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    out.push_str(&grouped);
    if let Some(f) = frac {
        out.push('.');
        out.push_str(&f);
    }
    out
}

/// The symbol written before an amount in `code`, or the code and a space.
pub fn currency_prefix(code: &str) -> String {
    match code.to_ascii_uppercase().as_str() {
        "USD" => "$".into(),
        "EUR" => "€".into(),
        "GBP" => "£".into(),
        "JPY" | "CNY" => "¥".into(),
        "INR" => "₹".into(),
        other => format!("{other} "),
    }
}

/// `-1234.5` in EUR with 0 decimals → `-€1,235`.
pub fn currency(v: f64, code: &str, decimals: usize) -> String {
    with_currency(number(v, decimals), code)
}

/// A formatted figure with the currency's sign after any minus: `-€12.3M`.
fn with_currency(n: String, code: &str) -> String {
    match n.strip_prefix('-') {
        Some(abs) => format!("-{}{abs}", currency_prefix(code)),
        None => format!("{}{n}", currency_prefix(code)),
    }
}

/// Figures from here on may be shown [`short`] (the HTML's tables, `short=true`).
pub const SHORT_FROM: f64 = 99_999.5;

/// A figure in three significant digits with a thousand (k), million (M) or billion (B) suffix
/// once it reaches 1,000, for table cells on a phone's width: `123456` → `123k`, `12345678` →
/// `12.3M`; below 1,000 a whole number.
pub fn short(v: f64) -> String {
    let a = v.abs();
    let (scaled, suffix) = if a >= 999.5e6 {
        (v / 1e9, "B")
    } else if a >= 999.5e3 {
        (v / 1e6, "M")
    } else if a >= 999.5 {
        (v / 1e3, "k")
    } else {
        return number(v, 0);
    };
    let decimals = match scaled.abs() {
        x if x >= 99.95 => 0,
        x if x >= 9.995 => 1,
        _ => 2,
    };
    format!("{}{suffix}", number(scaled, decimals))
}

/// Whether a column of `format` shows its figures [`short`] in an HTML table: counts, numbers
/// and money whose largest figure reaches 100,000 (every figure of the column, so they compare).
pub fn shortens<'a>(format: ColumnFormat, mut values: impl Iterator<Item = &'a Value>) -> bool {
    matches!(format, ColumnFormat::Integer | ColumnFormat::Decimal | ColumnFormat::Money)
        && values.any(|v| as_f64(v).is_some_and(|f| f.abs() >= SHORT_FROM))
}

/// One cell of a column that [`shortens`]: `€12.3M`, `934k`.
pub fn short_cell(v: &Value, format: ColumnFormat, currency_code: &str) -> String {
    match as_f64(v) {
        None => MISSING.into(),
        Some(f) if format == ColumnFormat::Money => with_currency(short(f), currency_code),
        Some(f) => short(f),
    }
}

/// A ratio as a percentage: `0.1234` → `12.3%`.
pub fn percent(v: f64, decimals: usize) -> String {
    format!("{}%", number(v * 100.0, decimals))
}

/// Which way a change went, for the marker and colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Up,
    Down,
    Flat,
}

/// A change as `(direction, "+12.3%")`. `change` is already a difference in the unit `format`
/// names: a ratio for `percent`, an amount for `number`/`currency`, a ratio difference for
/// `points` (shown in percentage points).
pub fn signed(change: f64, format: &str, currency_code: &str, decimals: usize) -> (Direction, String) {
    let body = match format {
        "number" => number(change.abs(), decimals),
        "currency" => currency(change.abs(), currency_code, decimals),
        "points" => format!("{} pp", number(change.abs() * 100.0, decimals)),
        _ => percent(change.abs(), decimals),
    };
    let zero = body.chars().filter(|c| c.is_ascii_digit()).all(|c| c == '0');
    if zero {
        (Direction::Flat, format!("±{body}"))
    } else if change > 0.0 {
        (Direction::Up, format!("+{body}"))
    } else {
        (Direction::Down, format!("−{body}"))
    }
}

/// An ISO date, local time (`2026-11-22T06:05`, as an hour or minute period's bounds) or RFC 3339
/// timestamp in a strftime `format`.
pub fn date(v: &str, format: &str) -> Option<String> {
    use std::fmt::Write;
    let parsed = chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d")
        .map(|d| d.and_time(chrono::NaiveTime::MIN))
        .or_else(|_| chrono::DateTime::parse_from_rfc3339(v).map(|d| d.naive_utc()))
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S%.f"))
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M"))
        .ok()?;
    let mut out = String::new();
    write!(out, "{}", parsed.format(format)).ok()?;
    Some(out)
}

/// `revenue_share` → `Revenue share`; known abbreviations and single letters in capitals
/// (`arr` → `ARR`, `to_a` → `To A`).
pub fn heading(column: &str) -> String {
    const UPPER: &[&str] = &["arr", "mrr", "aov", "ltv", "arpa", "nrr", "grr", "csat", "nps", "id", "sla", "p90", "p50"];
    let words: Vec<String> = column
        .split('_')
        .filter(|w| !w.is_empty())
        .enumerate()
        .map(|(i, w)| {
            if w == "h" {
                "(h)".to_string()
            } else if UPPER.contains(&w) || w.len() == 1 {
                w.to_uppercase()
            } else if i == 0 {
                let mut c = w.chars();
                c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
            } else {
                w.to_string()
            }
        })
        .collect();
    words.join(" ")
}

/// How the table helper shows a column, from its type and name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnFormat {
    Text,
    Integer,
    Decimal,
    Money,
    Percent,
    /// A relative change, signed: `+12.3%`, `−4.0%`.
    Change,
    /// A change between two shares, in percentage points (`*_pp` columns hold points): `+6.3 pp`.
    Points,
    Date,
    /// A date that stands for its month (`month`, `cohort`, `*_month`): `Nov 2026`.
    Month,
}

/// The words a query can declare a column's format with (`-- pareto: format csat=percent
/// csat_responses=count first_reply_h=number:1`), and what each means.
pub const FORMAT_WORDS: [(&str, ColumnFormat); 10] = [
    ("text", ColumnFormat::Text),
    ("count", ColumnFormat::Integer),
    ("number", ColumnFormat::Decimal),
    ("money", ColumnFormat::Money),
    ("percent", ColumnFormat::Percent),
    ("change", ColumnFormat::Change),
    ("points", ColumnFormat::Points),
    ("date", ColumnFormat::Date),
    ("month", ColumnFormat::Month),
    ("integer", ColumnFormat::Integer),
];

/// A column's declared format, and the decimals it is shown with if the declaration says
/// (`number:1`); otherwise the column's own figures decide ([`column_decimals`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Declared {
    pub format: ColumnFormat,
    pub decimals: Option<usize>,
}

/// The word that declares `format`.
pub fn word(format: ColumnFormat) -> &'static str {
    FORMAT_WORDS.iter().find(|(_, f)| *f == format).map(|(w, _)| *w).unwrap_or("text")
}

/// Read a declaration's format (`percent`, `number:1`); the error says what is known.
pub fn parse_declared(word: &str) -> Result<Declared, String> {
    let (name, decimals) = match word.split_once(':') {
        Some((n, d)) => match d.parse::<usize>() {
            Ok(d) if d <= 6 => (n, Some(d)),
            _ => return Err(format!("`{word}`: the decimals after `:` must be a whole number from 0 to 6")),
        },
        None => (word, None),
    };
    match FORMAT_WORDS.iter().find(|(w, _)| *w == name) {
        Some((_, format)) => Ok(Declared { format: *format, decimals }),
        None => Err(format!(
            "`{name}` is not a format; use one of {}",
            FORMAT_WORDS[..9].iter().map(|(w, _)| *w).collect::<Vec<_>>().join(", ")
        )),
    }
}

/// Guess a column's format when its query does not declare one: `*_change`, `*_growth` are signed changes; `*_share`, `*_rate`,
/// `*_pct` are ratios; money words are currency.
pub fn column_format(name: &str, type_name: &str) -> ColumnFormat {
    let n = name.to_ascii_lowercase();
    let numeric = matches!(type_name, "integer" | "float" | "decimal");
    if numeric && n.ends_with("_pp") {
        return ColumnFormat::Points;
    }
    if numeric && ["change", "growth", "delta"].iter().any(|w| n == *w || n.ends_with(&format!("_{w}"))) {
        return ColumnFormat::Change;
    }
    // A name that ends in a count (`csat_responses`, `nps_answers`) counts things, whatever it
    // starts with; and a whole number is never a ratio (a share is a fraction).
    let count = ["responses", "answers", "ratings", "count", "tickets", "orders", "customers", "rows", "n"]
        .iter()
        .any(|w| n == *w || n.ends_with(&format!("_{w}")));
    let ratio = !count
        && type_name != "integer"
        && ["share", "rate", "pct", "percent", "ratio", "retention", "nrr", "grr", "csat", "met", "chance"]
            .iter()
            .any(|w| n == *w || n.ends_with(&format!("_{w}")) || n.starts_with(&format!("{w}_")));
    let money = !count
        && ["revenue", "amount", "mrr", "arr", "ltv", "aov", "arpa", "margin", "value", "spend", "price", "cost"]
            .iter()
            .any(|w| n == *w || n.ends_with(&format!("_{w}")) || n.starts_with(&format!("{w}_")));
    match type_name {
        _ if numeric && ratio => ColumnFormat::Percent,
        _ if numeric && money => ColumnFormat::Money,
        "integer" => ColumnFormat::Integer,
        "float" | "decimal" => ColumnFormat::Decimal,
        "date" if n == "month" || n == "cohort" || n.ends_with("_month") => ColumnFormat::Month,
        "date" | "timestamp" => ColumnFormat::Date,
        _ => ColumnFormat::Text,
    }
}

/// Decimals for a whole column, so its figures line up: money in whole units once any amount
/// reaches 1,000, other decimals once any reaches 100 or when all are whole; otherwise two.
pub fn column_decimals<'a>(format: ColumnFormat, values: impl Iterator<Item = &'a Value>) -> usize {
    let figures: Vec<f64> = values.filter_map(as_f64).collect();
    let max = figures.iter().map(|f| f.abs()).fold(0.0, f64::max);
    match format {
        ColumnFormat::Money if max >= 1000.0 => 0,
        ColumnFormat::Decimal if max >= 100.0 => 0,
        // Whole numbers in a decimal column (hour targets of 2, 8 and 24) need no decimals.
        ColumnFormat::Decimal if !figures.is_empty() && figures.iter().all(|f| f.fract() == 0.0) => 0,
        ColumnFormat::Integer => 0,
        ColumnFormat::Percent | ColumnFormat::Change | ColumnFormat::Points => 1,
        _ => 2,
    }
}

/// One cell as text in `format`.
pub fn cell(v: &Value, format: ColumnFormat, currency_code: &str, decimals: usize) -> String {
    if v.is_null() {
        return MISSING.into();
    }
    match format {
        ColumnFormat::Integer => as_f64(v).map(|f| number(f, 0)),
        ColumnFormat::Decimal => as_f64(v).map(|f| number(f, decimals)),
        ColumnFormat::Money => as_f64(v).map(|f| currency(f, currency_code, decimals)),
        ColumnFormat::Percent => as_f64(v).map(|f| percent(f, decimals)),
        ColumnFormat::Change => as_f64(v).map(|f| signed(f, "percent", currency_code, decimals).1),
        // `*_pp` columns hold percentage points already (6.3, not 0.063).
        ColumnFormat::Points => as_f64(v).map(|f| signed(f / 100.0, "points", currency_code, decimals).1),
        ColumnFormat::Date => v.as_str().and_then(|s| date(s, if s.len() > 10 { "%Y-%m-%d %H:%M" } else { "%Y-%m-%d" })),
        ColumnFormat::Month => v.as_str().and_then(|s| date(s, "%b %Y")),
        ColumnFormat::Text => Some(match v {
            // A table cell is one line: a value with line breaks or other control characters
            // (from the lake) would break the text table's columns.
            Value::String(s) if s.chars().any(char::is_control) => {
                s.split(|c: char| c.is_whitespace() || c.is_control()).filter(|w| !w.is_empty()).collect::<Vec<_>>().join(" ")
            }
            Value::String(s) => s.clone(),
            Value::Bool(b) => {
                if *b {
                    "yes".into()
                } else {
                    "no".into()
                }
            }
            other => other.to_string(),
        }),
    }
    .unwrap_or_else(|| MISSING.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_group_thousands() {
        assert_eq!(number(1234567.891, 2), "1,234,567.89");
        assert_eq!(number(999.0, 0), "999");
        assert_eq!(number(-1000.0, 0), "-1,000");
        assert_eq!(number(-0.001, 2), "0.00");
    }

    #[test]
    fn currency_puts_the_sign_before_the_symbol() {
        assert_eq!(currency(-1234.5, "EUR", 0), "-€1,235");
        assert_eq!(currency(12.5, "USD", 2), "$12.50");
        assert_eq!(currency(3.0, "CHF", 0), "CHF 3");
    }

    #[test]
    fn short_figures_keep_three_significant_digits() {
        assert_eq!(short(950.4), "950");
        assert_eq!(short(999.5), "1.00k");
        assert_eq!(short(12_345.0), "12.3k");
        assert_eq!(short(123_456.0), "123k");
        assert_eq!(short(999_999.0), "1.00M");
        assert_eq!(short(-12_345_678.0), "-12.3M");
        assert_eq!(short(2_500_000_000.0), "2.50B");
        assert_eq!(short_cell(&json!("1234567.89"), ColumnFormat::Money, "EUR"), "€1.23M");
        assert_eq!(short_cell(&json!(-250000), ColumnFormat::Money, "USD"), "-$250k");
        assert_eq!(short_cell(&json!(null), ColumnFormat::Integer, "EUR"), "–");
        let column = [json!(99_999), json!(5)];
        assert!(!shortens(ColumnFormat::Integer, column.iter()));
        let column = [json!(100_000), json!(5)];
        assert!(shortens(ColumnFormat::Money, column.iter()));
        assert!(!shortens(ColumnFormat::Percent, column.iter()));
    }

    #[test]
    fn percent_and_signed_changes() {
        assert_eq!(percent(0.1234, 1), "12.3%");
        assert_eq!(signed(0.1234, "percent", "EUR", 1), (Direction::Up, "+12.3%".into()));
        assert_eq!(signed(-250.0, "currency", "EUR", 0), (Direction::Down, "−€250".into()));
        assert_eq!(signed(0.00001, "percent", "EUR", 1), (Direction::Flat, "±0.0%".into()));
        assert_eq!(signed(-0.02, "points", "EUR", 1), (Direction::Down, "−2.0 pp".into()));
    }

    #[test]
    fn dates_and_headings() {
        assert_eq!(date("2026-11-16", "%-d %b %Y").unwrap(), "16 Nov 2026");
        assert_eq!(date("2026-11-16T08:30:00Z", "%H:%M").unwrap(), "08:30");
        assert_eq!(date("2026-11-22T06:05", "%a %H:%M").unwrap(), "Sun 06:05");
        assert_eq!(heading("revenue_share"), "Revenue share");
        assert_eq!(heading("arr"), "ARR");
        assert_eq!(heading("to_a"), "To A");
        assert_eq!(heading("nrr_12m"), "NRR 12m");
        assert_eq!(heading("first_reply_median_h"), "First reply median (h)");
        assert_eq!(column_format("share_change_pp", "float"), ColumnFormat::Points);
        assert_eq!(column_format("first_reply_met", "float"), ColumnFormat::Percent);
    }

    #[test]
    fn cells_pick_formats_from_names_and_types() {
        assert_eq!(column_format("revenue_share", "float"), ColumnFormat::Percent);
        assert_eq!(column_format("revenue", "decimal"), ColumnFormat::Money);
        assert_eq!(column_format("customers", "integer"), ColumnFormat::Integer);
        // A count is a count whatever word it starts with (the service table once showed
        // "CSAT responses 200.0%"), and a whole number is never a ratio.
        assert_eq!(column_format("csat_responses", "integer"), ColumnFormat::Integer);
        assert_eq!(column_format("csat_responses", "float"), ColumnFormat::Decimal);
        assert_eq!(column_format("revenue_orders", "integer"), ColumnFormat::Integer);
        assert_eq!(column_format("csat", "float"), ColumnFormat::Percent);
        assert_eq!(column_format("csat_7d", "float"), ColumnFormat::Percent);
        assert_eq!(column_format("met", "integer"), ColumnFormat::Integer);
        assert_eq!(column_format("revenue_change", "float"), ColumnFormat::Change);
        assert_eq!(cell(&json!(-0.04), ColumnFormat::Change, "EUR", 1), "−4.0%");
        assert_eq!(cell(&json!("1234.50"), ColumnFormat::Money, "EUR", 0), "€1,235");
        assert_eq!(cell(&json!(null), ColumnFormat::Money, "EUR", 0), "–");
        assert_eq!(cell(&json!(0.5), ColumnFormat::Percent, "EUR", 1), "50.0%");
        let column = [json!("1000.00"), json!("49.50")];
        assert_eq!(column_decimals(ColumnFormat::Money, column.iter()), 0);
        assert_eq!(column_decimals(ColumnFormat::Money, column[1..].iter()), 2);
    }
}

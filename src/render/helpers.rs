//! The Handlebars helpers every report needs: `number`, `currency`, `percent`, `delta`, `date`,
//! `table` and `chart`. Each has an HTML flavour (escaped, inline styles) and a plain-text one.

use super::chart;
use super::format::{self, ColumnFormat, Direction, MISSING};
use handlebars::{Context, Handlebars, Helper, HelperResult, Output, RenderContext, RenderError, RenderErrorReason};
use serde_json::Value;

/// Which part of the email a registry renders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    Html,
    Text,
}

pub const NAMES: &[&str] = &["number", "currency", "percent", "delta", "date", "table", "chart"];

const UP: &str = "#1a7f37";
const DOWN: &str = "#cf222e";
const FLAT: &str = "#57606a";

pub fn register(hb: &mut Handlebars<'static>, flavour: Flavour) {
    hb.register_helper("number", Box::new(number));
    hb.register_helper("currency", Box::new(currency));
    hb.register_helper("percent", Box::new(percent));
    hb.register_helper("date", Box::new(date));
    match flavour {
        Flavour::Html => {
            hb.register_helper("delta", Box::new(delta_html));
            hb.register_helper("table", Box::new(table_html));
            hb.register_helper("chart", Box::new(chart_html));
        }
        Flavour::Text => {
            hb.register_helper("delta", Box::new(delta_text));
            hb.register_helper("table", Box::new(table_text));
            hb.register_helper("chart", Box::new(chart_text));
        }
    }
}

/// Parameter `i` of helper `name`. In strict mode a name the data lacks is an error, as it is for
/// a plain `{{name}}`; otherwise it reads as null and shows as "–".
fn param<'a>(h: &'a Helper, r: &Handlebars, i: usize, name: &'static str) -> Result<&'a Value, RenderError> {
    let p = h.param(i).ok_or_else(|| RenderError::from(RenderErrorReason::ParamNotFoundForIndex(name, i)))?;
    if r.strict_mode() && p.is_value_missing() {
        return Err(RenderErrorReason::MissingVariable(p.relative_path().cloned()).into());
    }
    Ok(p.value())
}

fn decimals(h: &Helper, default: usize) -> usize {
    h.hash_get("decimals").and_then(|v| v.value().as_u64()).map(|d| d.min(10) as usize).unwrap_or(default)
}

fn currency_code(h: &Helper, ctx: &Context) -> String {
    h.hash_get("code")
        .and_then(|v| v.value().as_str().map(str::to_string))
        .or_else(|| ctx.data().pointer("/job/currency").and_then(|v| v.as_str()).map(str::to_string))
        .unwrap_or_else(|| "USD".into())
}

/// `{{number x decimals=0}}`
fn number(h: &Helper, r: &Handlebars, _: &Context, _: &mut RenderContext, out: &mut dyn Output) -> HelperResult {
    let v = param(h, r, 0, "number")?;
    let text = match format::as_f64(v) {
        Some(f) if short(h) && f.abs() >= format::SHORT_FROM => format::short(f),
        Some(f) => format::number(f, decimals(h, 0)),
        None => MISSING.into(),
    };
    out.write(&r.get_escape_fn()(&text))?;
    Ok(())
}

/// `short=true`: a figure of 100,000 or more in three significant digits (`€93.6M`, `355k`), for
/// headline figures on a phone's width.
fn short(h: &Helper) -> bool {
    h.hash_get("short").is_some_and(|v| v.value().as_bool() == Some(true))
}

/// `{{currency x decimals=0 code="EUR" short=true}}`: the job's `currency` unless `code` is given.
fn currency(h: &Helper, r: &Handlebars, ctx: &Context, _: &mut RenderContext, out: &mut dyn Output) -> HelperResult {
    let v = param(h, r, 0, "currency")?;
    let code = currency_code(h, ctx);
    let text = match format::as_f64(v) {
        Some(f) if short(h) && f.abs() >= format::SHORT_FROM => format::short_cell(v, format::ColumnFormat::Money, &code),
        Some(f) => format::currency(f, &code, decimals(h, 0)),
        None => MISSING.into(),
    };
    out.write(&r.get_escape_fn()(&text))?;
    Ok(())
}

/// `{{percent ratio decimals=1}}`: 0.123 → 12.3%.
fn percent(h: &Helper, r: &Handlebars, _: &Context, _: &mut RenderContext, out: &mut dyn Output) -> HelperResult {
    let v = param(h, r, 0, "percent")?;
    let text = format::as_f64(v).map(|f| format::percent(f, decimals(h, 1))).unwrap_or_else(|| MISSING.into());
    out.write(&r.get_escape_fn()(&text))?;
    Ok(())
}

/// `{{date x format="%-d %b %Y"}}`
fn date(h: &Helper, r: &Handlebars, _: &Context, _: &mut RenderContext, out: &mut dyn Output) -> HelperResult {
    let v = param(h, r, 0, "date")?;
    let fmt = h.hash_get("format").and_then(|f| f.value().as_str()).unwrap_or("%-d %b %Y");
    let text = v.as_str().and_then(|s| format::date(s, fmt)).unwrap_or_else(|| MISSING.into());
    out.write(&r.get_escape_fn()(&text))?;
    Ok(())
}

/// The change `{{delta current previous}}` describes: relative (`format="percent"`, the default)
/// or absolute (`number`, `currency`, `points`); `{{delta change}}` takes a change already made.
/// `inverse=true` marks a fall as good (reply times, churn).
fn delta_parts(h: &Helper, r: &Handlebars, ctx: &Context) -> Result<Option<(Direction, String, bool)>, RenderError> {
    let current = format::as_f64(param(h, r, 0, "delta")?);
    let fmt = h.hash_get("format").and_then(|f| f.value().as_str()).unwrap_or("percent").to_string();
    let previous = if h.param(1).is_some() { Some(param(h, r, 1, "delta")?) } else { None };
    let change = match previous {
        Some(prev) => match (current, format::as_f64(prev)) {
            (Some(c), Some(p)) if fmt == "percent" => (p != 0.0).then(|| (c - p) / p.abs()),
            (Some(c), Some(p)) => Some(c - p),
            _ => None,
        },
        None => current,
    };
    let inverse = h.hash_get("inverse").is_some_and(|v| v.value().as_bool() == Some(true));
    let default_decimals = if fmt == "percent" || fmt == "points" { 1 } else { 0 };
    Ok(change.map(|c| {
        let (dir, text) = format::signed(c, &fmt, &currency_code(h, ctx), decimals(h, default_decimals));
        (dir, text, inverse)
    }))
}

fn delta_html(h: &Helper, r: &Handlebars, ctx: &Context, _: &mut RenderContext, out: &mut dyn Output) -> HelperResult {
    match delta_parts(h, r, ctx)? {
        None => out.write(&format!("<span style=\"color:{FLAT}\">{MISSING}</span>"))?,
        Some((dir, text, inverse)) => {
            let (marker, good) = match dir {
                Direction::Up => ("▲", Some(!inverse)),
                Direction::Down => ("▼", Some(inverse)),
                Direction::Flat => ("■", None),
            };
            let colour = match good {
                Some(true) => UP,
                Some(false) => DOWN,
                None => FLAT,
            };
            out.write(&format!(
                "<span style=\"color:{colour};white-space:nowrap\">{marker}&nbsp;{}</span>",
                handlebars::html_escape(&text)
            ))?;
        }
    }
    Ok(())
}

fn delta_text(h: &Helper, r: &Handlebars, ctx: &Context, _: &mut RenderContext, out: &mut dyn Output) -> HelperResult {
    match delta_parts(h, r, ctx)? {
        None => out.write(MISSING)?,
        Some((dir, text, _)) => {
            let marker = match dir {
                Direction::Up => "▲",
                Direction::Down => "▼",
                Direction::Flat => "■",
            };
            out.write(&format!("{marker} {text}"))?;
        }
    }
    Ok(())
}

/// A result (`{{table results.name}}`) cut down to the columns and rows asked for:
/// `columns="a,b"`, `filter="dimension=region"`, `limit=10`, `percent="m*"`, `shade="m*"`.
struct Grid {
    columns: Vec<(String, ColumnFormat)>,
    rows: Vec<Vec<String>>,
    /// The rows as an HTML table shows them: columns of large figures in three significant
    /// digits (`€12.3M`), so a table fits a phone; the text part keeps every digit.
    short_rows: Vec<Vec<String>>,
    /// Cells to show in grey (a figure from too small a sample).
    grey: Vec<Vec<bool>>,
    /// Each cell's shade from 0 (the smallest shaded figure) to 1 (the largest), in the columns
    /// `shade="m*"` names; `None` elsewhere and for empty cells.
    shade: Vec<Vec<Option<f64>>>,
    more: usize,
    /// Why the result is off, when it is.
    off: Option<String>,
}

fn grid(h: &Helper, r: &Handlebars, ctx: &Context) -> Result<Grid, RenderError> {
    let result = param(h, r, 0, "table")?;
    if result.get("skipped").and_then(|s| s.as_bool()) == Some(true) {
        let why = result.get("reason").and_then(|s| s.as_str()).unwrap_or("its data is missing");
        return Ok(Grid {
            columns: Vec::new(),
            rows: Vec::new(),
            short_rows: Vec::new(),
            grey: Vec::new(),
            shade: Vec::new(),
            more: 0,
            off: Some(format!("Not available: {why}.")),
        });
    }
    let bad = || RenderErrorReason::Other("`table` takes a query result, like `{{table results.top_customers}}`".into());
    let all_cols = result.get("columns").and_then(|c| c.as_array()).ok_or_else(bad)?;
    let rows = result.get("rows").and_then(|r| r.as_array()).ok_or_else(bad)?;
    let code = currency_code(h, ctx);
    let wanted: Option<Vec<String>> = h
        .hash_get("columns")
        .and_then(|c| c.value().as_str())
        .map(|s| s.split(',').map(|c| c.trim().to_string()).filter(|c| !c.is_empty()).collect());
    let mut columns = Vec::new();
    let described: Vec<(String, String)> = all_cols
        .iter()
        .map(|c| (c["name"].as_str().unwrap_or_default().to_string(), c["type"].as_str().unwrap_or("text").to_string()))
        .collect();
    // A format the query declares (`-- pareto: format csat=percent`) wins over a guess from the
    // column's name; so do its decimals (`number:1`).
    let declared = |name: &str| declared(all_cols.iter().find(|c| c["name"] == name)?);
    let format_of = |n: &str, t: &str| declared(n).map(|d| d.format).unwrap_or_else(|| format::column_format(n, t));
    match &wanted {
        Some(w) => {
            for name in w {
                let Some((n, t)) = described.iter().find(|(n, _)| n == name) else {
                    return Err(RenderErrorReason::Other(format!(
                        "`table`: the result has no column `{name}` (it has: {})",
                        described.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ")
                    ))
                    .into());
                };
                columns.push((n.clone(), format_of(n, t)));
            }
        }
        None => columns = described.iter().map(|(n, t)| (n.clone(), format_of(n, t))).collect(),
    }
    // `percent="m*,share"`: show these columns (a trailing * matches a prefix) as percentages.
    let percent = globs(h, "percent");
    for (name, f) in columns.iter_mut() {
        if percent.iter().any(|g| glob_matches(g, name)) {
            *f = ColumnFormat::Percent;
        }
    }
    // `filter="dimension=company_size"`: only rows whose column has that value (`;` for more).
    let filters = row_filters(h);
    for (k, _) in &filters {
        if !described.iter().any(|(n, _)| n == k) {
            return Err(RenderErrorReason::Other(format!("`table`: cannot filter on `{k}`: the result has no such column")).into());
        }
    }
    let rows: Vec<&Value> = rows.iter().filter(|r| keeps(r, &filters)).collect();
    let limit = h.hash_get("limit").and_then(|l| l.value().as_u64()).map(|l| l as usize).unwrap_or(usize::MAX);
    let shown_rows: Vec<&Value> = rows.iter().take(limit).copied().collect();
    let decimals: Vec<usize> = columns
        .iter()
        .map(|(n, f)| match declared(n).and_then(|d| d.decimals) {
            Some(d) => d,
            None => format::column_decimals(*f, shown_rows.iter().filter_map(|r| r.get(n))),
        })
        .collect();
    let shown: Vec<Vec<String>> = shown_rows
        .iter()
        .map(|r| columns.iter().zip(&decimals).map(|((n, f), d)| format::cell(r.get(n).unwrap_or(&Value::Null), *f, &code, *d)).collect())
        .collect();
    let shorten: Vec<bool> = columns.iter().map(|(n, f)| format::shortens(*f, shown_rows.iter().filter_map(|r| r.get(n)))).collect();
    let short_rows: Vec<Vec<String>> = shown_rows
        .iter()
        .zip(&shown)
        .map(|(r, cells)| {
            columns
                .iter()
                .zip(&shorten)
                .zip(cells)
                .map(
                    |(((n, f), short), cell)| {
                        if *short { format::short_cell(r.get(n).unwrap_or(&Value::Null), *f, &code) } else { cell.clone() }
                    },
                )
                .collect()
        })
        .collect();
    // `grey="csat:csat_low_sample"`: show column csat in grey where csat_low_sample is true.
    let grey_rules: Vec<(String, String)> = h
        .hash_get("grey")
        .and_then(|g| g.value().as_str())
        .map(|g| g.split(',').filter_map(|r| r.split_once(':')).map(|(c, f)| (c.trim().to_string(), f.trim().to_string())).collect())
        .unwrap_or_default();
    let grey = shown_rows
        .iter()
        .map(|r| columns.iter().map(|(n, _)| grey_rules.iter().any(|(c, f)| c == n && r.get(f) == Some(&Value::Bool(true)))).collect())
        .collect();
    // `shade="m*"`: shade these columns' cells by their figure, lightest for the smallest shown
    // and darkest for the largest (a heat map that needs no image, so it survives blocked images).
    let shaded = globs(h, "shade");
    for g in &shaded {
        if !columns.iter().any(|(n, f)| glob_matches(g, n) && numeric(*f)) {
            return Err(RenderErrorReason::Other(format!("`table`: `shade` names `{g}`, which matches no column of figures shown")).into());
        }
    }
    let shade_col: Vec<bool> = columns.iter().map(|(n, f)| numeric(*f) && shaded.iter().any(|g| glob_matches(g, n))).collect();
    let figures: Vec<f64> = shown_rows
        .iter()
        .flat_map(|r| columns.iter().zip(&shade_col).filter(|(_, s)| **s).filter_map(|((n, _), _)| r.get(n).and_then(format::as_f64)))
        .collect();
    let (lo, hi) = figures.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
    let shade = shown_rows
        .iter()
        .map(|r| {
            columns
                .iter()
                .zip(&shade_col)
                .map(|((n, _), s)| {
                    let v = r.get(n).and_then(format::as_f64).filter(|_| *s)?;
                    Some(if hi > lo { (v - lo) / (hi - lo) } else { 1.0 })
                })
                .collect()
        })
        .collect();
    // A result cut at `[render] max_rows` still knows its full size (`row_count`).
    let truncated = result.get("truncated") == Some(&Value::Bool(true));
    let all = match result.get("row_count").and_then(|n| n.as_u64()) {
        Some(n) if truncated && filters.is_empty() => n as usize,
        _ => rows.len(),
    };
    Ok(Grid { more: all.saturating_sub(shown.len()), columns, rows: shown, short_rows, grey, shade, off: None })
}

/// `filter="dimension=company_size;segment=All"`: the (column, value) pairs a row must have.
fn row_filters(h: &Helper) -> Vec<(String, String)> {
    h.hash_get("filter")
        .and_then(|f| f.value().as_str())
        .map(|f| f.split(';').filter_map(|c| c.split_once('=')).map(|(k, v)| (k.trim().to_string(), v.trim().to_string())).collect())
        .unwrap_or_default()
}

/// Whether `row` has every filter's value (an empty value matches null or no such field).
fn keeps(row: &Value, filters: &[(String, String)]) -> bool {
    filters.iter().all(|(k, v)| match row.get(k) {
        Some(Value::String(s)) => s == v,
        Some(Value::Null) | None => v.is_empty(),
        Some(other) => other.to_string() == *v,
    })
}

/// The comma-separated names of parameter `name` (for column globs, a trailing `*` matches a
/// prefix).
fn globs(h: &Helper, name: &str) -> Vec<String> {
    h.hash_get(name)
        .and_then(|p| p.value().as_str())
        .map(|g| g.split(',').map(str::trim).filter(|g| !g.is_empty()).map(str::to_string).collect())
        .unwrap_or_default()
}

fn glob_matches(glob: &str, name: &str) -> bool {
    match glob.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => name == glob,
    }
}

/// A cell's background for shade `t` (0 to 1) on one blue scale, which reads the same to
/// colour-blind eyes, and the text colour that stays legible on it.
fn shade_colours(t: f64) -> (String, &'static str) {
    let (light, dark) = ([0xee, 0xf4, 0xfa], [0x1d, 0x4e, 0x89]);
    let c: Vec<String> = light
        .iter()
        .zip(dark)
        .map(|(l, d)| format!("{:02x}", (*l as f64 + (d as f64 - *l as f64) * t.clamp(0.0, 1.0)).round() as u8))
        .collect();
    (format!("#{}", c.concat()), if t > 0.5 { "#ffffff" } else { "#1f2328" })
}

fn numeric(f: ColumnFormat) -> bool {
    !matches!(f, ColumnFormat::Text | ColumnFormat::Date | ColumnFormat::Month)
}

fn table_html(h: &Helper, r: &Handlebars, ctx: &Context, _: &mut RenderContext, out: &mut dyn Output) -> HelperResult {
    let g = grid(h, r, ctx)?;
    let esc = handlebars::html_escape;
    if let Some(off) = &g.off {
        out.write(&format!("<p style=\"margin:0;font-size:13px;color:#57606a;\">{}</p>", esc(off)))?;
        return Ok(());
    }
    // `compact=true`: smaller type and padding for wide tables, so they fit the 640-pixel page.
    let compact = h.hash_get("compact").is_some_and(|c| c.value().as_bool() == Some(true));
    // Headings are smaller than figures and wrap between words, and large figures are shortened
    // (`€12.3M`): on a phone (341 pixels inside the page's margins at 375) a table fits without
    // scrolling sideways.
    let (size, pad, heading) =
        if compact { ("11px;line-height:15px", 3, "10px;line-height:13px") } else { ("13px;line-height:18px", 4, "11px;line-height:14px") };
    // Every byte of a cell's markup is repeated in every cell, and Gmail clips an HTML part past
    // about 102 KB: the padding is the table's `cellpadding` and the alignment each cell's `align`
    // attribute (every client honours both; cells are left-aligned without it), not styles.
    let mut s = format!(
        "<table role=\"presentation\" width=\"100%\" cellpadding=\"{pad}\" cellspacing=\"0\" border=\"0\" style=\"border-collapse:collapse;width:100%;font-size:{size};\">\n<tr valign=\"bottom\" style=\"font-size:{heading};color:#57606a\">"
    );
    for (name, f) in &g.columns {
        let align = if numeric(*f) { "right" } else { "left" };
        s.push_str(&format!("<td align=\"{align}\" style=\"border-bottom:2px solid #d0d7de\">{}</td>", esc(&format::heading(name))));
    }
    s.push_str("</tr>\n");
    if g.rows.is_empty() {
        s.push_str(&format!("<tr><td colspan=\"{}\" style=\"color:#57606a\">No rows.</td></tr>\n", g.columns.len().max(1)));
    }
    for ((row, grey), shade) in g.short_rows.iter().zip(&g.grey).zip(&g.shade) {
        s.push_str("<tr>");
        for ((((_, f), v), grey), shade) in g.columns.iter().zip(row).zip(grey).zip(shade) {
            let align = if numeric(*f) { " align=\"right\"" } else { "" };
            // A shaded cell's colour is the `bgcolor` attribute, which every client keeps (some
            // drop a style's background), and its text colour the style's.
            let (bg, colour) = match shade {
                Some(t) => {
                    let (bg, text) = shade_colours(*t);
                    (format!(" bgcolor=\"{bg}\""), format!(";color:{text}"))
                }
                None if *grey => (String::new(), ";color:#8c959f".to_string()),
                None => (String::new(), String::new()),
            };
            // `nowrap` as an attribute, not a style: every client honours it, in a third of the bytes.
            s.push_str(&format!(
                "<td{align}{}{bg} style=\"border-bottom:1px solid #eaeef2{colour}\">{}</td>",
                if numeric(*f) || matches!(f, ColumnFormat::Month | ColumnFormat::Date) { " nowrap" } else { "" },
                esc(v)
            ));
        }
        s.push_str("</tr>\n");
    }
    if g.more > 0 {
        s.push_str(&format!(
            "<tr><td colspan=\"{}\" style=\"color:#57606a\">… and {} more rows (all rows are in the attached or archived CSV).</td></tr>\n",
            g.columns.len(),
            format::number(g.more as f64, 0)
        ));
    }
    s.push_str("</table>");
    out.write(&s)?;
    Ok(())
}

fn table_text(h: &Helper, r: &Handlebars, ctx: &Context, _: &mut RenderContext, out: &mut dyn Output) -> HelperResult {
    let g = grid(h, r, ctx)?;
    if let Some(off) = &g.off {
        out.write(off)?;
        out.write("\n")?;
        return Ok(());
    }
    let headings: Vec<String> = g.columns.iter().map(|(n, _)| format::heading(n)).collect();
    let widths: Vec<usize> = (0..g.columns.len())
        .map(|i| g.rows.iter().map(|r| r[i].chars().count()).chain([headings[i].chars().count()]).max().unwrap_or(0))
        .collect();
    let line = |cells: &[String]| -> String {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let pad = widths[i] - c.chars().count();
                if numeric(g.columns[i].1) { format!("{}{c}", " ".repeat(pad)) } else { format!("{c}{}", " ".repeat(pad)) }
            })
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut s = line(&headings);
    s.push('\n');
    s.push_str(&widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>().join("  "));
    s.push('\n');
    if g.rows.is_empty() {
        s.push_str("No rows.\n");
    }
    for r in &g.rows {
        s.push_str(&line(r));
        s.push('\n');
    }
    if g.more > 0 {
        s.push_str(&format!("… and {} more rows\n", format::number(g.more as f64, 0)));
    }
    out.write(&s)?;
    Ok(())
}

/// The format a result's column (as the pipeline describes it) declares, with its decimals.
fn declared(column: &Value) -> Option<format::Declared> {
    let d = format::parse_declared(column.get("format")?.as_str()?).ok()?;
    Some(format::Declared { decimals: column.get("decimals").and_then(|d| d.as_u64()).map(|d| d as usize), ..d })
}

/// `{{chart "line" result="revenue_movements" x="month" y="end_mrr" filter="segment=All"
/// title="…"}}`: the chart to draw from a result, or why there is none ("Not available: …").
fn chart_spec(h: &Helper, r: &Handlebars, ctx: &Context) -> Result<Result<chart::Spec, String>, RenderError> {
    let other = |m: String| RenderError::from(RenderErrorReason::Other(m));
    let kind = param(h, r, 0, "chart")?.as_str().unwrap_or_default().to_string();
    if !chart::KINDS.contains(&kind.as_str()) {
        return Err(other(format!("`chart`: `{kind}` is not a kind of chart; use one of {}", chart::KINDS.join(", "))));
    }
    let text = |name: &str| h.hash_get(name).and_then(|v| v.value().as_str()).map(str::to_string);
    let result = match h.hash_get("result").map(|v| v.value()) {
        Some(Value::String(name)) => ctx
            .data()
            .get("results")
            .and_then(|rs| rs.get(name))
            .cloned()
            .ok_or_else(|| other(format!("`chart`: there is no result `{name}` (a query the job lists)")))?,
        Some(v @ Value::Object(_)) => v.clone(),
        _ => return Err(other("`chart` needs `result=\"name\"`, the query result to draw".into())),
    };
    if result.get("skipped").and_then(|s| s.as_bool()) == Some(true) {
        let why = result.get("reason").and_then(|s| s.as_str()).unwrap_or("its data is missing");
        return Ok(Err(format!("Not available: {why}.")));
    }
    let columns: Vec<(String, String, Option<format::Declared>)> = result
        .get("columns")
        .and_then(|c| c.as_array())
        .ok_or_else(|| other("`chart` takes a query result, like `result=\"revenue_movements\"`".into()))?
        .iter()
        .map(|c| {
            let declared = declared(c);
            (c["name"].as_str().unwrap_or_default().to_string(), c["type"].as_str().unwrap_or("text").to_string(), declared)
        })
        .collect();
    let column = |name: &str| -> Result<ColumnFormat, RenderError> {
        let (n, t, d) = columns.iter().find(|(n, _, _)| n == name).ok_or_else(|| {
            other(format!(
                "`chart`: the result has no column `{name}` (it has: {})",
                columns.iter().map(|(n, _, _)| n.as_str()).collect::<Vec<_>>().join(", ")
            ))
        })?;
        Ok(d.map(|d| d.format).unwrap_or_else(|| format::column_format(n, t)))
    };
    let filters = row_filters(h);
    for (k, _) in &filters {
        column(k)?;
    }
    let rows: Vec<&Value> =
        result.get("rows").and_then(|r| r.as_array()).map(|rows| rows.iter().filter(|r| keeps(r, &filters)).collect()).unwrap_or_default();
    let code = currency_code(h, ctx);
    let size = |name: &str, default: u32, max: u32| {
        h.hash_get(name).and_then(|v| v.value().as_u64()).map_or(default, |v| (v as u32).clamp(16, max))
    };
    let (width, height) = if kind == "sparkline" {
        (size("width", 120, 600), size("height", 32, 400))
    } else {
        (size("width", 480, 600), size("height", 200, 600))
    };
    let mut spec = chart::Spec {
        kind: kind.clone(),
        title: text("title").unwrap_or_default(),
        labels: Vec::new(),
        series: Vec::new(),
        totals: Vec::new(),
        format: ColumnFormat::Decimal,
        currency: code.clone(),
        width,
        height,
        stacked: h.hash_get("stacked").is_some_and(|v| v.value().as_bool() == Some(true)),
        top20: h.hash_get("top20").and_then(|v| format::as_f64(v.value())),
        decimals: None,
    };
    if kind == "bridge" {
        // `steps="start_mrr,won_mrr,-churned_mrr,end_mrr"` from one row (the last one the
        // filter keeps): the first and last are totals, the others changes (`-` subtracts).
        let steps = globs(h, "steps");
        if steps.len() < 3 {
            return Err(other("`chart \"bridge\"` needs `steps=\"start,change,…,end\"`: at least a start, one change and an end".into()));
        }
        let labels = globs(h, "labels");
        let mut formats = Vec::new();
        for st in &steps {
            formats.push(column(st.trim_start_matches('-'))?);
        }
        spec.format = formats[0];
        let Some(row) = rows.last() else { return Ok(Err("No figures to draw.".into())) };
        // `x="month"`: the row's month (or other label) goes in the title.
        if let Some(x) = text("x") {
            let f = column(&x)?;
            let at = format::cell(row.get(&x).unwrap_or(&Value::Null), f, &code, 0);
            spec.title = if spec.title.is_empty() { at } else { format!("{} ({at})", spec.title) };
        }
        let mut points = Vec::new();
        for (i, st) in steps.iter().enumerate() {
            let name = st.trim_start_matches('-');
            let v = row.get(name).and_then(format::as_f64).unwrap_or(0.0);
            points.push((i as f64, if st.starts_with('-') { -v } else { v }));
            spec.labels.push(labels.get(i).cloned().unwrap_or_else(|| format::heading(name)));
            spec.totals.push(i == 0 || i == steps.len() - 1);
        }
        spec.series.push(chart::Series { name: String::new(), points });
        return Ok(if rows.is_empty() { Err("No figures to draw.".into()) } else { Ok(spec) });
    }
    let x = text("x").ok_or_else(|| other(format!("`chart \"{kind}\"` needs `x=\"column\"`")))?;
    let ys = globs(h, "y");
    if ys.is_empty() {
        return Err(other(format!("`chart \"{kind}\"` needs `y=\"column\"` (or several, comma-separated)")));
    }
    let x_format = column(&x)?;
    for y in &ys {
        column(y)?;
    }
    (spec.format, spec.decimals) = match text("format") {
        Some(f) => {
            let d = format::parse_declared(&f).map_err(|e| other(format!("`chart`: format {e}")))?;
            (d.format, d.decimals)
        }
        None => (column(&ys[0])?, columns.iter().find(|(n, _, _)| *n == ys[0]).and_then(|(_, _, d)| d.and_then(|d| d.decimals))),
    };
    let series_by = text("series");
    if let Some(s) = &series_by {
        column(s)?;
    }
    if rows.is_empty() {
        return Ok(Err("No figures to draw.".into()));
    }
    if kind == "lorenz" {
        // Shares of customers and of revenue, as fractions or percentages.
        let xs: Vec<f64> = rows.iter().filter_map(|r| r.get(&x).and_then(format::as_f64)).collect();
        let scale = if xs.iter().any(|v| *v > 1.0) { 100.0 } else { 1.0 };
        let points = rows
            .iter()
            .filter_map(|r| Some((r.get(&x).and_then(format::as_f64)? / scale, r.get(&ys[0]).and_then(format::as_f64)?)))
            .collect();
        spec.format = ColumnFormat::Percent;
        spec.series.push(chart::Series { name: ys[0].clone(), points });
        return Ok(Ok(spec));
    }
    // Categories in the order rows first show them.
    for r in &rows {
        let label = format::cell(r.get(&x).unwrap_or(&Value::Null), x_format, &code, 0);
        if !spec.labels.contains(&label) {
            spec.labels.push(label);
        }
    }
    let index = |r: &Value| spec.labels.iter().position(|l| *l == format::cell(r.get(&x).unwrap_or(&Value::Null), x_format, &code, 0));
    let mut series: Vec<chart::Series> = Vec::new();
    for r in &rows {
        let Some(i) = index(r) else { continue };
        for y in &ys {
            let name = match &series_by {
                Some(s) => format::cell(r.get(s).unwrap_or(&Value::Null), ColumnFormat::Text, &code, 0),
                None => format::heading(y),
            };
            let Some(v) = r.get(y).and_then(format::as_f64) else { continue };
            match series.iter_mut().find(|s| s.name == name) {
                Some(s) => s.points.push((i as f64, v)),
                None => series.push(chart::Series { name, points: vec![(i as f64, v)] }),
            }
        }
    }
    // At most six series: the palette's colours stay apart.
    series.truncate(6);
    spec.series = series;
    Ok(Ok(spec))
}

// A chart of a result that is off, or has no rows to draw, draws nothing: the table beside it
// says why ("Not available: …", "No rows.").
fn chart_html(h: &Helper, r: &Handlebars, ctx: &Context, _: &mut RenderContext, out: &mut dyn Output) -> HelperResult {
    let Ok(spec) = chart_spec(h, r, ctx)? else { return Ok(()) };
    // Rows but not one figure (a CSAT trend where nobody rated): no empty picture either; the
    // text part's sentence says there was nothing to draw.
    if spec.series.iter().all(|s| s.points.is_empty()) {
        return Ok(());
    }
    let alt = h.hash_get("alt").and_then(|v| v.value().as_str()).map(str::to_string).unwrap_or_else(|| spec.takeaway());
    let png = chart::png(&spec).map_err(|e| RenderError::from(RenderErrorReason::Other(format!("`chart`: {e}"))))?;
    let cid = chart::keep(png, spec.width, spec.height, &alt);
    // Display size in the attributes (Outlook sizes by them); fluid below it on a phone.
    let style = if spec.kind == "sparkline" {
        format!("display:block;border:0;width:100%;max-width:{}px;height:auto;", spec.width)
    } else {
        format!("display:block;border:0;width:100%;max-width:{}px;height:auto;margin:0 0 12px 0;", spec.width)
    };
    out.write(&format!(
        "<img src=\"cid:{cid}\" width=\"{}\" height=\"{}\" alt=\"{}\" style=\"{style}\">",
        spec.width,
        spec.height,
        handlebars::html_escape(&alt)
    ))?;
    Ok(())
}

fn chart_text(h: &Helper, r: &Handlebars, ctx: &Context, _: &mut RenderContext, out: &mut dyn Output) -> HelperResult {
    if let Ok(spec) = chart_spec(h, r, ctx)? {
        out.write(&h.hash_get("alt").and_then(|v| v.value().as_str()).map(str::to_string).unwrap_or_else(|| spec.takeaway()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn html(template: &str, data: Value) -> Result<String, handlebars::RenderError> {
        let mut hb = Handlebars::new();
        register(&mut hb, Flavour::Html);
        hb.render_template(template, &data)
    }

    fn triangle() -> Value {
        json!({ "r": {
            "columns": [{ "name": "cohort", "type": "text" }, { "name": "m1", "type": "float" }, { "name": "m2", "type": "float" }],
            "row_count": 2,
            "rows": [{ "cohort": "2026-01", "m1": 0.5, "m2": 0.25 }, { "cohort": "2026-02", "m1": 1.0, "m2": null }],
        }})
    }

    #[test]
    fn shaded_cells_run_from_the_smallest_figure_to_the_largest() {
        let out = html(r#"{{table r percent="m*" shade="m*"}}"#, triangle()).unwrap();
        let cells: Vec<&str> = out.split("<td").skip(4).map(|c| c.split("</td>").next().unwrap()).collect();
        assert_eq!(
            cells,
            [
                r##" style="border-bottom:1px solid #eaeef2">2026-01"##,
                // 0.5 is a third of the way from 0.25 to 1.0: a third of the way from light to dark.
                r##" align="right" nowrap bgcolor="#a8bdd4" style="border-bottom:1px solid #eaeef2;color:#1f2328">50.0%"##,
                r##" align="right" nowrap bgcolor="#eef4fa" style="border-bottom:1px solid #eaeef2;color:#1f2328">25.0%"##,
                r##" style="border-bottom:1px solid #eaeef2">2026-02"##,
                r##" align="right" nowrap bgcolor="#1d4e89" style="border-bottom:1px solid #eaeef2;color:#ffffff">100.0%"##,
                // An empty cell is not shaded.
                r##" align="right" nowrap style="border-bottom:1px solid #eaeef2">–"##,
            ]
        );
    }

    fn text(template: &str, data: Value) -> Result<String, handlebars::RenderError> {
        let mut hb = Handlebars::new();
        hb.register_escape_fn(handlebars::no_escape);
        register(&mut hb, Flavour::Text);
        hb.render_template(template, &data)
    }

    #[test]
    fn a_chart_in_the_text_part_is_its_sentence() {
        let out = text(r#"{{chart "bar" result=r x="cohort" y="m1" format="percent" title="Back after a month"}}"#, triangle()).unwrap();
        assert_eq!(out, "Back after a month: highest 2026-02 at 100.0%, lowest 2026-01 at 50.0%.");
        // A result without rows draws nothing, in either part.
        let empty = json!({ "r": { "columns": [{ "name": "cohort", "type": "text" }, { "name": "m1", "type": "float" }], "rows": [] } });
        assert_eq!(text(r#"{{chart "line" result=r x="cohort" y="m1"}}"#, empty.clone()).unwrap(), "");
        assert_eq!(html(r#"{{chart "line" result=r x="cohort" y="m1"}}"#, empty).unwrap(), "");
    }

    #[test]
    fn a_sparkline_is_an_inline_image_drawn_at_twice_its_size() {
        let (out, images) = chart::collecting(|| html(r#"{{chart "sparkline" result=r x="cohort" y="m1"}}"#, triangle()));
        let out = out.unwrap();
        assert!(out.starts_with(r#"<img src="cid:chart-1@pareto" width="120" height="32" alt=""#), "{out}");
        assert_eq!(images.len(), 1);
        let png = &images[0].png;
        assert_eq!((u32::from_be_bytes(png[16..20].try_into().unwrap()), u32::from_be_bytes(png[20..24].try_into().unwrap())), (240, 64));
    }

    #[test]
    fn a_chart_without_one_figure_draws_nothing_and_says_so_in_text() {
        let mut data = triangle();
        data["r"]["rows"] = json!([{ "cohort": "2026-01", "m1": null, "m2": null }, { "cohort": "2026-02", "m1": null, "m2": null }]);
        let (out, images) = chart::collecting(|| html(r#"{{chart "sparkline" result=r x="cohort" y="m2" title="CSAT"}}"#, data.clone()));
        assert_eq!((out.unwrap().as_str(), images.len()), ("", 0));
        assert_eq!(text(r#"{{chart "sparkline" result=r x="cohort" y="m2" title="CSAT"}}"#, data).unwrap(), "CSAT: no figures to draw.");
    }

    #[test]
    fn chart_mistakes_name_what_to_write() {
        let e = |t: &str| html(t, triangle()).unwrap_err().reason().to_string();
        assert_eq!(
            e(r#"{{chart "pie" result=r x="cohort" y="m1"}}"#),
            "`chart`: `pie` is not a kind of chart; use one of line, bar, bridge, lorenz, sparkline"
        );
        assert_eq!(e(r#"{{chart "line" result=r x="cohort" y="m9"}}"#), "`chart`: the result has no column `m9` (it has: cohort, m1, m2)");
        assert_eq!(e(r#"{{chart "line" result="nope" x="cohort" y="m1"}}"#), "`chart`: there is no result `nope` (a query the job lists)");
        assert_eq!(
            e(r#"{{chart "bridge" result=r steps="m1,m2"}}"#),
            "`chart \"bridge\"` needs `steps=\"start,change,…,end\"`: at least a start, one change and an end"
        );
    }

    #[test]
    fn exact_decimals_are_shaded_too() {
        // Decimal columns arrive as exact strings ("10.00").
        let data = json!({ "r": {
            "columns": [{ "name": "revenue", "type": "decimal" }],
            "rows": [{ "revenue": "10.00" }, { "revenue": "30.00" }],
        }});
        let out = html(r#"{{table r shade="revenue"}}"#, data).unwrap();
        assert!(out.contains(r##"bgcolor="#eef4fa""##) && out.contains(r##"bgcolor="#1d4e89""##), "{out}");
    }

    #[test]
    fn shading_a_column_that_is_not_there_is_an_error() {
        let e = html(r#"{{table r shade="x*"}}"#, triangle()).unwrap_err();
        assert_eq!(e.reason().to_string(), "`table`: `shade` names `x*`, which matches no column of figures shown");
    }
}

//! Charts in the email, drawn from a query's rows: an SVG built here, rasterised to PNG by resvg
//! with the bundled font (Roboto), so the same figures give the same bytes on any machine. They
//! travel as inline parts of the message (`cid:`), which every client shows; no SVG, no `data:`
//! URIs, no remote images. Each has the one-sentence takeaway as its alt text, and the plain-text
//! part carries the same sentence.

use super::format::{self, ColumnFormat};
use serde_json::Value;
use std::cell::RefCell;
use std::fmt::Write as _;
use std::sync::{Arc, OnceLock};

/// The kinds a template can ask for.
pub const KINDS: [&str; 5] = ["line", "bar", "bridge", "lorenz", "sparkline"];

/// The Okabe–Ito colours, which colour-blind readers tell apart, in the order series take them.
const PALETTE: [&str; 6] = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00"];
const INK: &str = "#1f2328";
const MUTED: &str = "#57606a";
const GRID: &str = "#eaeef2";
const UP: &str = "#009E73";
const DOWN: &str = "#D55E00";
/// Type sizes at display size: large enough to read when a phone shows a chart at 341 of its
/// 480 pixels (9 and 11 pixels then).
const LABEL: f64 = 13.0;
const TITLE: f64 = 15.0;
/// Charts are drawn at twice their display size, for sharp phones.
const SCALE: f32 = 2.0;
const FONT: &[u8] = include_bytes!("../../assets/fonts/Roboto-Regular.ttf");

/// A chart drawn for a message.
#[derive(Debug, Clone)]
pub struct Image {
    /// `chart-1@pareto`: the part's Content-ID, which the HTML refers to as `cid:chart-1@pareto`.
    pub cid: String,
    /// `chart-1.png`: its file in the run folder's `charts/`.
    pub file: String,
    pub png: Vec<u8>,
    /// Display size in CSS pixels (the PNG is twice as large).
    pub width: u32,
    pub height: u32,
    pub alt: String,
}

thread_local! {
    static DRAWN: RefCell<Option<Vec<Image>>> = const { RefCell::new(None) };
}

/// Run `f` (a render) and return what it returned with the charts it drew, in order.
pub fn collecting<T>(f: impl FnOnce() -> T) -> (T, Vec<Image>) {
    DRAWN.with(|d| *d.borrow_mut() = Some(Vec::new()));
    let out = f();
    let images = DRAWN.with(|d| d.borrow_mut().take()).unwrap_or_default();
    (out, images)
}

/// Keep a drawn chart for the message being rendered; returns its Content-ID (outside
/// [`collecting`], as when `pareto check` renders, the chart is drawn and dropped).
pub fn keep(png: Vec<u8>, width: u32, height: u32, alt: &str) -> String {
    DRAWN.with(|d| {
        let mut d = d.borrow_mut();
        let n = d.as_ref().map_or(0, Vec::len) + 1;
        let cid = format!("chart-{n}@pareto");
        if let Some(v) = d.as_mut() {
            v.push(Image { cid: cid.clone(), file: format!("chart-{n}.png"), png, width, height, alt: alt.to_string() });
        }
        cid
    })
}

/// The archived report's link to an image instead of its Content-ID.
pub fn archived_html(html: &str, images: &[Image]) -> String {
    images.iter().fold(html.to_string(), |h, i| h.replace(&format!("src=\"cid:{}\"", i.cid), &format!("src=\"charts/{}\"", i.file)))
}

/// One line of figures: a name and its points (x, y).
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// What to draw.
#[derive(Debug, Clone)]
pub struct Spec {
    pub kind: String,
    pub title: String,
    /// The x axis' labels, one per category (line, bar, bridge); x values index them.
    pub labels: Vec<String>,
    pub series: Vec<Series>,
    /// For a bridge: whether each step is a total (a bar from the axis' floor) rather than a change.
    pub totals: Vec<bool>,
    pub format: ColumnFormat,
    pub currency: String,
    pub width: u32,
    pub height: u32,
    /// For bars: the series stacked on one another (each category's bar its total) rather than
    /// side by side.
    pub stacked: bool,
    /// For a Lorenz curve: the top fifth's share as the report states it elsewhere (`top20=`),
    /// so the chart and the sentence beside it agree; otherwise read off the curve.
    pub top20: Option<f64>,
    /// Decimals the query (or `format="number:1"`) declares for the figures; otherwise as many as
    /// tell the figures apart, as in the tables.
    pub decimals: Option<usize>,
}

impl Spec {
    /// Each category's total over the series, in category order.
    fn totals_by_category(&self) -> Vec<(f64, f64)> {
        let mut totals: Vec<(f64, f64)> = Vec::new();
        for (x, y) in self.series.iter().flat_map(|s| s.points.iter()) {
            match totals.iter_mut().find(|(tx, _)| tx == x) {
                Some(t) => t.1 += y,
                None => totals.push((*x, *y)),
            }
        }
        totals.sort_by(|a, b| a.0.total_cmp(&b.0));
        totals
    }

    /// A figure as the tables show it, shortened from 100,000 (`€12.3M`), in the decimals the
    /// chart's largest figure calls for (as a table column's).
    fn figure(&self, v: f64) -> String {
        let value = serde_json::json!(v);
        let all: Vec<Value> = if self.stacked && self.kind == "bar" {
            self.totals_by_category().iter().map(|p| serde_json::json!(p.1)).collect()
        } else {
            self.series.iter().flat_map(|s| s.points.iter().map(|p| serde_json::json!(p.1))).collect()
        };
        let decimals = self.decimals.unwrap_or_else(|| format::column_decimals(self.format, all.iter()));
        match self.format {
            ColumnFormat::Money | ColumnFormat::Integer | ColumnFormat::Decimal if v.abs() >= format::SHORT_FROM => {
                format::short_cell(&value, self.format, &self.currency)
            }
            ColumnFormat::Money => format::currency(v, &self.currency, decimals),
            ColumnFormat::Integer => format::number(v, 0),
            ColumnFormat::Percent => format::percent(v, self.decimals.unwrap_or(1)),
            _ => format::number(v, decimals),
        }
    }

    /// An axis label: fewer digits than [`Spec::figure`].
    fn tick(&self, v: f64, step: f64) -> String {
        match self.format {
            ColumnFormat::Percent => format::percent(v, if step >= 0.01 { 0 } else { 1 }),
            ColumnFormat::Money if v.abs() >= 999.5 => format::short_cell(&serde_json::json!(v), ColumnFormat::Money, &self.currency),
            ColumnFormat::Money => format::currency(v, &self.currency, 0),
            _ if v.abs() >= 999.5 => format::short(v),
            _ => format::number(v, if step >= 1.0 { 0 } else { 1 }),
        }
    }

    /// The one sentence the chart says, for its alt text and the plain-text part.
    pub fn takeaway(&self) -> String {
        let lead = if self.title.is_empty() { String::new() } else { format!("{}: ", self.title) };
        let label = |x: f64| self.labels.get(x as usize).cloned().unwrap_or_default();
        let Some(s) = self.series.first().filter(|s| !s.points.is_empty()) else {
            return format!("{lead}no figures to draw.");
        };
        match self.kind.as_str() {
            "lorenz" => {
                let share = self.top20.unwrap_or_else(|| 1.0 - lorenz_at(&s.points, 0.8));
                format!(
                    "{lead}the top 20% of customers bring {} of revenue (the diagonal is every customer bringing the same).",
                    format::percent(share, 1)
                )
            }
            "bridge" => {
                let (first, last) = (s.points[0], s.points[s.points.len() - 1]);
                // The steps that moved it; a step of zero goes without saying.
                let steps: Vec<String> = s.points[1..s.points.len() - 1]
                    .iter()
                    .filter(|(_, y)| *y != 0.0)
                    .map(|(x, y)| format!("{}{} {}", if *y < 0.0 { "−" } else { "+" }, self.figure(y.abs()), label(*x).to_lowercase()))
                    .collect();
                let steps = if steps.is_empty() { "no change".to_string() } else { steps.join(", ") };
                format!("{lead}from {} to {} ({steps}).", self.figure(first.1), self.figure(last.1))
            }
            "sparkline" => {
                let (first, last) = (s.points[0], s.points[s.points.len() - 1]);
                format!("{lead}from {} to {} over {} periods", self.figure(first.1), self.figure(last.1), s.points.len())
            }
            "bar" => {
                // Stacked, a category's figure is its bar's total.
                let points = if self.stacked { self.totals_by_category() } else { s.points.clone() };
                let max = points.iter().copied().fold(points[0], |m, p| if p.1 > m.1 { p } else { m });
                let min = points.iter().copied().fold(points[0], |m, p| if p.1 < m.1 { p } else { m });
                format!("{lead}highest {} at {}, lowest {} at {}.", label(max.0), self.figure(max.1), label(min.0), self.figure(min.1))
            }
            _ => {
                let (first, last) = (s.points[0], s.points[s.points.len() - 1]);
                let change = if first.1 != 0.0 { (last.1 - first.1) / first.1.abs() } else { 0.0 };
                let direction = if last.1 > first.1 {
                    "up"
                } else if last.1 < first.1 {
                    "down"
                } else {
                    "unchanged"
                };
                let by = if direction == "unchanged" || first.1 == 0.0 || self.format == ColumnFormat::Percent {
                    String::new()
                } else {
                    format!(" {}", format::percent(change.abs(), 1))
                };
                let name = if self.series.len() > 1 { format!("{} ", s.name) } else { String::new() };
                format!(
                    "{lead}{name}{} in {}, {direction}{by} from {} in {}.",
                    self.figure(last.1),
                    label(last.0),
                    self.figure(first.1),
                    label(first.0)
                )
            }
        }
    }
}

/// The Lorenz curve's height at `x` (0 to 1), between its points (x in 0 to 1).
fn lorenz_at(points: &[(f64, f64)], x: f64) -> f64 {
    let mut prev = (0.0, 0.0);
    for &p in points {
        if p.0 >= x {
            let t = if p.0 > prev.0 { (x - prev.0) / (p.0 - prev.0) } else { 1.0 };
            return prev.1 + (p.1 - prev.1) * t;
        }
        prev = p;
    }
    prev.1
}

/// Text fit for SVG: `&`, `<`, `>` and quotes escaped, control characters dropped (a lake value
/// may be a label).
fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Round axis ticks covering `lo` to `hi`, about `n` of them.
fn ticks(lo: f64, hi: f64, n: usize) -> (Vec<f64>, f64) {
    let span = if hi > lo { hi - lo } else { hi.abs().max(1.0) };
    let raw = span / n as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|m| m * mag).find(|s| *s >= raw).unwrap_or(10.0 * mag);
    let start = (lo / step).floor() * step;
    let end = (hi / step).ceil() * step;
    let mut out = Vec::new();
    let mut v = start;
    while v <= end + step * 1e-9 {
        out.push(if v.abs() < step * 1e-9 { 0.0 } else { v });
        v += step;
    }
    if out.len() < 2 {
        out.push(start + step);
    }
    (out, step)
}

/// About how wide `s` is at `size` pixels in Roboto (for keeping labels apart).
fn text_width(s: &str, size: f64) -> f64 {
    s.chars().count() as f64 * size * 0.55
}

/// Draw `spec` as SVG at its display size.
pub fn svg(spec: &Spec) -> String {
    let (w, h) = (spec.width as f64, spec.height as f64);
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" font-family=\"Roboto\">\
         <rect width=\"{w}\" height=\"{h}\" fill=\"#ffffff\"/>"
    );
    if spec.kind == "sparkline" {
        sparkline(spec, &mut s);
        s.push_str("</svg>");
        return s;
    }
    let mut top = 10.0;
    // The title, wrapped between words to the chart's width.
    let mut lines: Vec<String> = Vec::new();
    for word in spec.title.split_whitespace() {
        match lines.last_mut() {
            Some(l) if text_width(&format!("{l} {word}"), TITLE) <= w => {
                l.push(' ');
                l.push_str(word);
            }
            _ => lines.push(word.to_string()),
        }
    }
    for (i, l) in lines.iter().enumerate() {
        let _ = write!(s, "<text x=\"0\" y=\"{}\" font-size=\"{TITLE}\" fill=\"{INK}\">{}</text>", 17.0 + 19.0 * i as f64, xml(l));
        top = 32.0 + 19.0 * i as f64;
    }
    // A legend for more than one series, under the title.
    if spec.series.len() > 1 && spec.kind != "bridge" {
        let mut x = 0.0;
        for (i, series) in spec.series.iter().enumerate() {
            let colour = PALETTE[i % PALETTE.len()];
            let _ = write!(
                s,
                "<rect x=\"{x}\" y=\"{}\" width=\"10\" height=\"10\" fill=\"{colour}\"/><text x=\"{}\" y=\"{}\" font-size=\"{LABEL}\" fill=\"{MUTED}\">{}</text>",
                top,
                x + 14.0,
                top + 10.0,
                xml(&series.name)
            );
            x += 14.0 + text_width(&series.name, LABEL) + 14.0;
        }
        top += 20.0;
    }
    let values: Vec<f64> = spec.series.iter().flat_map(|se| se.points.iter().map(|p| p.1)).collect();
    let (mut lo, mut hi) = values.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
    if values.is_empty() {
        (lo, hi) = (0.0, 1.0);
    }
    match spec.kind.as_str() {
        "lorenz" => (lo, hi) = (0.0, 1.0),
        "bar" if spec.stacked => {
            // Each bar runs from its negatives' sum to its positives'.
            let (mut l, mut u) = (0.0f64, 0.0f64);
            for i in 0..spec.labels.len() {
                let ys = spec.series.iter().flat_map(|s| s.points.iter().filter(|p| p.0 == i as f64).map(|p| p.1));
                let (neg, pos) = ys.fold((0.0, 0.0), |(n, p), y| if y < 0.0 { (n + y, p) } else { (n, p + y) });
                l = l.min(neg);
                u = u.max(pos);
            }
            (lo, hi) = (l, u);
        }
        "bar" => (lo, hi) = (lo.min(0.0), hi.max(0.0)),
        "bridge" => {
            // The running total's whole path. Changes are small beside the totals, so the axis
            // starts below the lowest total by as much again as the path spans (its labels say
            // where), not at zero, where every change would be a hairline.
            let mut run = 0.0;
            let (mut l, mut u) = (f64::INFINITY, f64::NEG_INFINITY);
            for (i, (_, y)) in spec.series.first().map(|s| s.points.as_slice()).unwrap_or_default().iter().enumerate() {
                run = if spec.totals.get(i).copied().unwrap_or(false) { *y } else { run + y };
                l = l.min(run);
                u = u.max(run);
            }
            let floor = if l > 0.0 { (l - (u - l).max(l * 0.01)).max(0.0) } else { l.min(0.0) };
            (lo, hi) = (floor, u);
        }
        _ => {}
    }
    let (ticks, step) = ticks(lo, hi, 4);
    let (lo, hi) = (ticks[0], ticks[ticks.len() - 1]);
    let labels: Vec<String> = ticks.iter().map(|t| spec.tick(*t, step)).collect();
    let left = labels.iter().map(|l| text_width(l, LABEL)).fold(0.0, f64::max) + 8.0;
    // Room on the right for the latest value's label on a line.
    let last_label = match spec.kind.as_str() {
        "line" => {
            spec.series.iter().filter_map(|se| se.points.last()).map(|p| text_width(&spec.figure(p.1), LABEL) + 10.0).fold(0.0, f64::max)
        }
        _ => 4.0,
    };
    // A bridge names every step: when the names do not fit side by side they take two rows,
    // alternating, at full size (smaller type only if even that does not fit).
    let x_room = w - last_label.max(8.0) - left;
    let widest = spec.labels.iter().map(|l| text_width(l, LABEL)).fold(0.0, f64::max) + 10.0;
    let band = x_room / spec.labels.len().max(1) as f64;
    let stagger = spec.kind == "bridge" && widest > band;
    let (x0, x1, y0, y1) = (left, w - last_label.max(8.0), top + 6.0, h - if stagger { 40.0 } else { 24.0 });
    let y_of = |v: f64| y1 - (v - lo) / (hi - lo) * (y1 - y0);
    for (t, l) in ticks.iter().zip(&labels) {
        let y = y_of(*t);
        let _ = write!(
            s,
            "<line x1=\"{x0}\" y1=\"{y:.1}\" x2=\"{x1}\" y2=\"{y:.1}\" stroke=\"{}\" stroke-width=\"1\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"{LABEL}\" fill=\"{MUTED}\" text-anchor=\"end\">{}</text>",
            if *t == 0.0 { "#8c959f" } else { GRID },
            x0 - 6.0,
            y + 4.0,
            xml(l)
        );
    }
    match spec.kind.as_str() {
        "lorenz" => {
            let x_of = |v: f64| x0 + v * (x1 - x0);
            let _ = write!(
                s,
                "<line x1=\"{x0}\" y1=\"{y1}\" x2=\"{x1}\" y2=\"{y0}\" stroke=\"#8c959f\" stroke-width=\"1\" stroke-dasharray=\"4 3\"/>"
            );
            if let Some(se) = spec.series.first() {
                let mut d = format!("M{x0:.1},{y1:.1}");
                for (x, y) in &se.points {
                    let _ = write!(d, " L{:.1},{:.1}", x_of(*x), y_of(*y));
                }
                let _ = write!(s, "<path d=\"{d}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"/>", PALETTE[0]);
                // The point that says it: where the top fifth begins.
                let at = spec.top20.map(|t| 1.0 - t).unwrap_or_else(|| lorenz_at(&se.points, 0.8));
                let _ = write!(
                    s,
                    "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3.5\" fill=\"{}\"/><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"{LABEL}\" fill=\"{INK}\" text-anchor=\"end\">top 20% bring {}</text>",
                    x_of(0.8),
                    y_of(at),
                    PALETTE[0],
                    x_of(0.8) - 6.0,
                    y_of(at) - 8.0,
                    xml(&format::percent(1.0 - at, 1))
                );
            }
            for (v, anchor) in [(0.0, "start"), (0.5, "middle"), (1.0, "end")] {
                let _ = write!(
                    s,
                    "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"{LABEL}\" fill=\"{MUTED}\" text-anchor=\"{anchor}\">{}</text>",
                    x_of(v),
                    h - 6.0,
                    xml(&format!("{} of customers", format::percent(v, 0)))
                );
            }
        }
        _ => {
            let n = spec.labels.len().max(1);
            let x_of = |i: f64| x0 + band * (i + 0.5);
            // X labels: as many as fit without touching, always the last; a bridge names every
            // step (on two rows if it must, see above).
            let (every, size) = if spec.kind == "bridge" {
                (1, if widest > 2.0 * band { (LABEL * 2.0 * band / widest).max(8.0) } else { LABEL })
            } else {
                (((widest / band).ceil() as usize).max(1), LABEL)
            };
            for (i, l) in spec.labels.iter().enumerate() {
                if (n - 1 - i) % every == 0 {
                    let y = if stagger && i % 2 == 0 { h - 22.0 } else { h - 6.0 };
                    let _ = write!(
                        s,
                        "<text x=\"{:.1}\" y=\"{y:.1}\" font-size=\"{size:.1}\" fill=\"{MUTED}\" text-anchor=\"middle\">{}</text>",
                        x_of(i as f64),
                        xml(l)
                    );
                }
            }
            match spec.kind.as_str() {
                "bar" if spec.stacked => {
                    let bar = (band * 0.6).min(56.0);
                    let mut pos = vec![0.0f64; spec.labels.len()];
                    let mut neg = vec![0.0f64; spec.labels.len()];
                    for (j, se) in spec.series.iter().enumerate() {
                        for (x, y) in &se.points {
                            let i = *x as usize;
                            let (from, to) = if *y < 0.0 { (neg[i] + y, neg[i]) } else { (pos[i], pos[i] + y) };
                            if *y < 0.0 {
                                neg[i] += y;
                            } else {
                                pos[i] += y;
                            }
                            let (top, bottom) = (y_of(to), y_of(from));
                            let _ = write!(
                                s,
                                "<rect x=\"{:.1}\" y=\"{top:.1}\" width=\"{bar:.1}\" height=\"{:.1}\" fill=\"{}\"/>",
                                x_of(*x) - bar / 2.0,
                                (bottom - top).max(0.5),
                                PALETTE[j % PALETTE.len()]
                            );
                        }
                    }
                }
                "bar" => {
                    let k = spec.series.len().max(1) as f64;
                    let bar = (band * 0.7 / k).min(48.0);
                    for (j, se) in spec.series.iter().enumerate() {
                        for (x, y) in &se.points {
                            let left = x_of(*x) - bar * k / 2.0 + bar * j as f64;
                            let (top, bottom) = (y_of(y.max(0.0)), y_of(y.min(0.0)));
                            let _ = write!(
                                s,
                                "<rect x=\"{left:.1}\" y=\"{top:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{}\"/>",
                                bar - 1.0,
                                (bottom - top).max(0.5),
                                PALETTE[j % PALETTE.len()]
                            );
                        }
                    }
                }
                "bridge" => {
                    let bar = (band * 0.6).min(56.0);
                    let mut run = 0.0;
                    if let Some(se) = spec.series.first() {
                        for (i, (x, y)) in se.points.iter().enumerate() {
                            let total = spec.totals.get(i).copied().unwrap_or(false);
                            let (from, to) = if total { (lo, *y) } else { (run, run + y) };
                            run = to;
                            let colour = if total {
                                PALETTE[0]
                            } else if *y < 0.0 {
                                DOWN
                            } else {
                                UP
                            };
                            let (top, bottom) = (y_of(from.max(to)), y_of(from.min(to)));
                            let _ = write!(
                                s,
                                "<rect x=\"{:.1}\" y=\"{top:.1}\" width=\"{bar:.1}\" height=\"{:.1}\" fill=\"{colour}\"/>\
                                 <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"{LABEL}\" fill=\"{INK}\" text-anchor=\"middle\">{}</text>",
                                x_of(*x) - bar / 2.0,
                                (bottom - top).max(0.5),
                                x_of(*x),
                                top - 4.0,
                                xml(&match (total, *y) {
                                    (true, _) | (false, 0.0) => spec.figure(*y),
                                    (false, y) => format!("{}{}", if y < 0.0 { "−" } else { "+" }, spec.figure(y.abs())),
                                })
                            );
                        }
                    }
                }
                _ => {
                    for (j, se) in spec.series.iter().enumerate() {
                        let colour = PALETTE[j % PALETTE.len()];
                        let d: Vec<String> = se
                            .points
                            .iter()
                            .enumerate()
                            .map(|(i, (x, y))| format!("{}{:.1},{:.1}", if i == 0 { "M" } else { " L" }, x_of(*x), y_of(*y)))
                            .collect();
                        let _ = write!(s, "<path d=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\"/>", d.concat());
                        // The latest value, labelled.
                        if let Some((x, y)) = se.points.last() {
                            let _ = write!(
                                s,
                                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{colour}\"/><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"{LABEL}\" fill=\"{INK}\">{}</text>",
                                x_of(*x),
                                y_of(*y),
                                x_of(*x) + 6.0,
                                y_of(*y) + 4.0,
                                xml(&spec.figure(*y))
                            );
                        }
                    }
                }
            }
        }
    }
    s.push_str("</svg>");
    s
}

/// A sparkline: the line alone, its latest point marked.
fn sparkline(spec: &Spec, s: &mut String) {
    let Some(se) = spec.series.first().filter(|se| !se.points.is_empty()) else { return };
    let (w, h) = (spec.width as f64, spec.height as f64);
    let (lo, hi) = se.points.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| (lo.min(p.1), hi.max(p.1)));
    let (lo, hi) = if hi > lo { (lo, hi) } else { (lo - 1.0, hi + 1.0) };
    let n = se.points.len().max(2) - 1;
    let x_of = |i: usize| 3.0 + (w - 6.0) * i as f64 / n as f64;
    let y_of = |v: f64| h - 3.0 - (v - lo) / (hi - lo) * (h - 6.0);
    let d: Vec<String> = se
        .points
        .iter()
        .enumerate()
        .map(|(i, (_, y))| format!("{}{:.1},{:.1}", if i == 0 { "M" } else { " L" }, x_of(i), y_of(*y)))
        .collect();
    let _ = write!(s, "<path d=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\"/>", d.concat(), PALETTE[0]);
    let last = se.points.len() - 1;
    let _ = write!(s, "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"2.5\" fill=\"{}\"/>", x_of(last), y_of(se.points[last].1), PALETTE[0]);
}

fn options() -> &'static resvg::usvg::Options<'static> {
    static OPTIONS: OnceLock<resvg::usvg::Options<'static>> = OnceLock::new();
    OPTIONS.get_or_init(|| {
        let mut db = resvg::usvg::fontdb::Database::new();
        db.load_font_data(FONT.to_vec());
        resvg::usvg::Options { font_family: "Roboto".into(), fontdb: Arc::new(db), ..Default::default() }
    })
}

/// Draw `spec` as a PNG twice its display size, on an opaque white background.
pub fn png(spec: &Spec) -> Result<Vec<u8>, String> {
    let tree = resvg::usvg::Tree::from_str(&svg(spec), options()).map_err(|e| format!("cannot draw the chart: {e}"))?;
    let (w, h) = ((spec.width as f32 * SCALE) as u32, (spec.height as f32 * SCALE) as u32);
    let mut pixmap = resvg::tiny_skia::Pixmap::new(w, h).ok_or("a chart must be at least one pixel")?;
    resvg::render(&tree, resvg::tiny_skia::Transform::from_scale(SCALE, SCALE), &mut pixmap.as_mut());
    pixmap.encode_png().map_err(|e| format!("cannot encode the chart: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mrr() -> Spec {
        Spec {
            kind: "line".into(),
            title: "MRR".into(),
            labels: vec!["Sep 2026".into(), "Oct 2026".into(), "Nov 2026".into()],
            series: vec![Series { name: "All".into(), points: vec![(0.0, 1000.0), (1.0, 1100.0), (2.0, 1250.0)] }],
            totals: Vec::new(),
            format: ColumnFormat::Money,
            currency: "EUR".into(),
            width: 600,
            height: 220,
            stacked: false,
            top20: None,
            decimals: None,
        }
    }

    #[test]
    fn a_chart_is_a_png_twice_its_size_and_the_same_bytes_every_time() {
        let a = png(&mrr()).unwrap();
        assert_eq!(&a[..8], b"\x89PNG\r\n\x1a\n");
        // IHDR: width and height, big-endian, at bytes 16..24.
        assert_eq!(u32::from_be_bytes(a[16..20].try_into().unwrap()), 1200);
        assert_eq!(u32::from_be_bytes(a[20..24].try_into().unwrap()), 440);
        assert_eq!(png(&mrr()).unwrap(), a);
        assert!(a.len() < 100_000, "{} bytes", a.len());
    }

    #[test]
    fn takeaways_say_the_latest_figure_and_the_change() {
        assert_eq!(mrr().takeaway(), "MRR: €1,250 in Nov 2026, up 25.0% from €1,000 in Sep 2026.");
        let lorenz = Spec {
            kind: "lorenz".into(),
            title: "Revenue by customer".into(),
            series: vec![Series { name: "lifetime".into(), points: vec![(0.5, 0.1), (0.8, 0.4), (1.0, 1.0)] }],
            ..mrr()
        };
        assert_eq!(
            lorenz.takeaway(),
            "Revenue by customer: the top 20% of customers bring 60.0% of revenue (the diagonal is every customer bringing the same)."
        );
        let bridge = Spec {
            kind: "bridge".into(),
            title: "MRR in Nov 2026".into(),
            labels: vec!["Start".into(), "Won".into(), "Churned".into(), "End".into()],
            series: vec![Series { name: String::new(), points: vec![(0.0, 1000.0), (1.0, 300.0), (2.0, -50.0), (3.0, 1250.0)] }],
            totals: vec![true, false, false, true],
            ..mrr()
        };
        assert_eq!(bridge.takeaway(), "MRR in Nov 2026: from €1,000 to €1,250 (+€300 won, −€50 churned).");
    }

    #[test]
    fn stacked_bars_speak_of_each_categorys_total() {
        let spec = Spec {
            kind: "bar".into(),
            title: "Revenue by tier".into(),
            labels: vec!["Oct 2026".into(), "Nov 2026".into()],
            series: vec![
                Series { name: "A".into(), points: vec![(0.0, 700.0), (1.0, 900.0)] },
                Series { name: "B".into(), points: vec![(0.0, 200.0), (1.0, 150.0)] },
            ],
            stacked: true,
            ..mrr()
        };
        assert_eq!(spec.takeaway(), "Revenue by tier: highest Nov 2026 at €1,050, lowest Oct 2026 at €900.");
        // Side by side, the first series speaks.
        assert_eq!(
            Spec { stacked: false, ..spec.clone() }.takeaway(),
            "Revenue by tier: highest Nov 2026 at €900.00, lowest Oct 2026 at €700.00."
        );
        let png = png(&spec).unwrap();
        assert_eq!(u32::from_be_bytes(png[16..20].try_into().unwrap()), 1200);
    }

    #[test]
    fn a_bridges_step_names_take_two_rows_at_full_size_when_they_do_not_fit_on_one() {
        let names = ["Start", "Won", "Expansion", "Contraction", "Churned", "End"];
        let bridge = Spec {
            kind: "bridge".into(),
            width: 480,
            height: 200,
            labels: names.iter().map(|n| n.to_string()).collect(),
            series: vec![Series {
                name: String::new(),
                points: vec![(0.0, 1000.0), (1.0, 300.0), (2.0, 100.0), (3.0, -80.0), (4.0, -50.0), (5.0, 1270.0)],
            }],
            totals: vec![true, false, false, false, false, true],
            ..mrr()
        };
        let svg = svg(&bridge);
        let row = |name: &str| {
            let at = svg.find(&format!(">{name}</text>")).unwrap_or_else(|| panic!("{name} in {svg}"));
            let tag = &svg[svg[..at].rfind("<text").unwrap()..at];
            assert!(tag.contains(&format!("font-size=\"{LABEL:.1}\"")), "{tag}");
            tag.split("y=\"").nth(1).unwrap().split('"').next().unwrap().to_string()
        };
        let rows: Vec<String> = names.iter().map(|n| row(n)).collect();
        assert_eq!(rows, ["178.0", "194.0", "178.0", "194.0", "178.0", "194.0"]);
        // Wide enough, one row.
        let wide = Spec {
            labels: ["Start", "Won", "Lost", "End"].iter().map(|n| n.to_string()).collect(),
            series: vec![Series { name: String::new(), points: vec![(0.0, 1000.0), (1.0, 300.0), (2.0, -30.0), (3.0, 1270.0)] }],
            totals: vec![true, false, false, true],
            ..bridge.clone()
        };
        let one_row = super::svg(&wide);
        assert!(one_row.matches("y=\"194.0\"").count() == 4 && !one_row.contains("y=\"178.0\""), "{one_row}");
    }

    #[test]
    fn a_hostile_label_stays_text() {
        let mut spec = mrr();
        spec.labels[2] = "<image href=\"file:///etc/passwd\"/>&".into();
        let svg = svg(&spec);
        assert!(svg.contains("&lt;image href=&quot;file:///etc/passwd&quot;/&gt;&amp;"), "{svg}");
        assert!(png(&spec).is_ok());
    }
}

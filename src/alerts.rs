//! `[[alert]]` rules, evaluated over the queries' results after they ran: thresholds, changes
//! against the previous period, and spikes against the trailing periods.

use crate::render::format;
use crate::spec::job::{AlertRule, Condition};
use serde::Serialize;
use serde_json::{Value, json};

/// An alert that fired.
#[derive(Debug, Clone, Serialize)]
pub struct Fired {
    pub name: String,
    pub severity: &'static str,
    pub query: String,
    pub metric: String,
    /// The row's segment (its `segment` column, or the rule's filter).
    pub segment: String,
    pub value: f64,
    /// The figure it was compared with: the threshold, the previous period, or the trailing mean.
    pub baseline: f64,
    pub message: String,
}

fn number(v: &Value) -> Option<f64> {
    format::as_f64(v)
}

fn matches(row: &Value, filter: &[(String, String)]) -> bool {
    filter.iter().all(|(k, want)| match &row[k] {
        Value::String(s) => s == want,
        Value::Null => want.is_empty(),
        other => other.to_string() == *want,
    })
}

fn segment(row: &Value, rule: &AlertRule) -> String {
    match &row["segment"] {
        Value::String(s) => s.clone(),
        _ if !rule.filter.is_empty() => rule.filter.iter().map(|(k, v)| format!("{k} = {v}")).collect::<Vec<_>>().join(", "),
        _ => "all".into(),
    }
}

/// Rows the rule looks at: those matching its filter, whose metric is present and not flagged as
/// a low sample (`<metric>_low_sample = true`).
fn candidates<'a>(rule: &AlertRule, rows: &'a [Value]) -> Vec<&'a Value> {
    rows.iter()
        .filter(|r| matches(r, &rule.filter))
        .filter(|r| r[format!("{}_low_sample", rule.metric)] != Value::Bool(true))
        .filter(|r| number(&r[&rule.metric]).is_some())
        .collect()
}

/// Evaluate every rule against `results` (the template data's `results`), rendering each fired
/// alert's message with `render`. Fired alerts come most severe first, in rule order.
pub fn evaluate(rules: &[AlertRule], results: &Value, render: &dyn Fn(&str, &Value) -> String) -> Vec<Fired> {
    let mut fired = Vec::new();
    for rule in rules {
        let Some(rows) = results[&rule.query]["rows"].as_array() else { continue };
        let mut hits: Vec<(&Value, f64, f64)> = Vec::new();
        match &rule.condition {
            Condition::Below(t) => hits
                .extend(candidates(rule, rows).into_iter().filter_map(|r| number(&r[&rule.metric]).filter(|v| v < t).map(|v| (r, v, *t)))),
            Condition::Above(t) => hits
                .extend(candidates(rule, rows).into_iter().filter_map(|r| number(&r[&rule.metric]).filter(|v| v > t).map(|v| (r, v, *t)))),
            Condition::Rise { by, baseline } | Condition::Fall { by, baseline } => {
                let rise = matches!(rule.condition, Condition::Rise { .. });
                for r in candidates(rule, rows) {
                    let (Some(v), Some(b)) = (number(&r[&rule.metric]), number(&r[baseline])) else { continue };
                    if b == 0.0 {
                        continue;
                    }
                    let change = (v - b) / b.abs();
                    if (rise && change > *by) || (!rise && change < -by) {
                        hits.push((r, v, b));
                    }
                }
            }
            Condition::Spike { k, over, order_by } => {
                // Per segment: the latest row against the `over` rows before it.
                let mut groups: std::collections::BTreeMap<(String, String), Vec<&Value>> = Default::default();
                for r in rows.iter().filter(|r| matches(r, &rule.filter)) {
                    let dimension = r["dimension"].as_str().unwrap_or_default().to_string();
                    groups.entry((dimension, segment(r, rule))).or_default().push(r);
                }
                for (_, mut g) in groups {
                    g.sort_by(|a, b| a[order_by].to_string().cmp(&b[order_by].to_string()));
                    let Some((last, earlier)) = g.split_last() else { continue };
                    let history: Vec<f64> = earlier.iter().rev().take(*over).filter_map(|r| number(&r[&rule.metric])).collect();
                    let Some(v) = number(&last[&rule.metric]) else { continue };
                    if history.len() < 2 || last[format!("{}_low_sample", rule.metric)] == Value::Bool(true) {
                        continue;
                    }
                    let mean = history.iter().sum::<f64>() / history.len() as f64;
                    let var = history.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (history.len() - 1) as f64;
                    if v > mean + k * var.sqrt() && v > mean {
                        hits.push((last, v, mean));
                    }
                }
            }
        }
        if let Some(floor) = rule.at_least {
            hits.retain(|(_, v, _)| *v >= floor);
        }
        for (row, value, baseline) in hits {
            let seg = segment(row, rule);
            let mut data = row.clone();
            if let Value::Object(m) = &mut data {
                m.insert("value".into(), json!(value));
                m.insert("baseline".into(), json!(baseline));
                m.insert("segment".into(), json!(seg));
                m.insert("metric".into(), json!(rule.metric));
                m.insert("alert".into(), json!(rule.name));
            }
            fired.push(Fired {
                name: rule.name.clone(),
                severity: rule.severity.as_str(),
                query: rule.query.clone(),
                metric: rule.metric.clone(),
                segment: seg,
                value,
                baseline,
                message: render(&rule.message, &data),
            });
        }
    }
    fired.sort_by_key(|f| match f.severity {
        "critical" => 0,
        "warning" => 1,
        _ => 2,
    });
    fired
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::job::Severity;

    fn rule(condition: Condition) -> AlertRule {
        AlertRule {
            name: "r".into(),
            query: "q".into(),
            metric: "m".into(),
            filter: vec![("dimension".into(), "value_tier".into())],
            condition,
            at_least: None,
            severity: Severity::Warning,
            message: "x".into(),
        }
    }

    fn results(rows: Value) -> Value {
        json!({ "q": { "rows": rows } })
    }

    #[test]
    fn thresholds_skip_low_samples_and_other_dimensions() {
        let r = results(json!([
            {"dimension": "value_tier", "segment": "A", "m": 0.7},
            {"dimension": "value_tier", "segment": "B", "m": 0.6, "m_low_sample": true},
            {"dimension": "region", "segment": "Europe", "m": 0.5},
            {"dimension": "value_tier", "segment": "C", "m": null},
        ]));
        let fired = evaluate(&[rule(Condition::Below(0.8))], &r, &|_, _| String::new());
        assert_eq!(fired.iter().map(|f| (f.segment.as_str(), f.value)).collect::<Vec<_>>(), vec![("A", 0.7)]);
    }

    #[test]
    fn changes_compare_with_the_previous_period() {
        let r = results(json!([
            {"dimension": "value_tier", "segment": "A", "m": 5.0, "prev_m": 4.0},
            {"dimension": "value_tier", "segment": "B", "m": 5.0, "prev_m": 4.1},
            {"dimension": "value_tier", "segment": "C", "m": 5.0, "prev_m": 0.0},
        ]));
        let fired = evaluate(&[rule(Condition::Rise { by: 0.24, baseline: "prev_m".into() })], &r, &|_, _| String::new());
        assert_eq!(fired.iter().map(|f| (f.segment.as_str(), f.baseline)).collect::<Vec<_>>(), vec![("A", 4.0)]);
    }

    #[test]
    fn spikes_compare_the_latest_row_with_the_trailing_ones() {
        // History 10, 12, 11, 13: mean 11.5, sample sd 1.29; 16 > 11.5 + 2·1.29.
        let mut rows = vec![];
        for (w, m) in [("w1", 10.0), ("w2", 12.0), ("w3", 11.0), ("w4", 13.0), ("w5", 16.0)] {
            rows.push(json!({"dimension": "value_tier", "segment": "A", "week": w, "m": m}));
        }
        for (w, m) in [("w1", 10.0), ("w2", 12.0), ("w3", 11.0), ("w4", 13.0), ("w5", 14.0)] {
            rows.push(json!({"dimension": "value_tier", "segment": "B", "week": w, "m": m}));
        }
        let fired =
            evaluate(&[rule(Condition::Spike { k: 2.0, over: 8, order_by: "week".into() })], &results(json!(rows)), &|_, _| String::new());
        assert_eq!(fired.len(), 1);
        assert_eq!((fired[0].segment.as_str(), fired[0].value, fired[0].baseline), ("A", 16.0, 11.5));
    }
}

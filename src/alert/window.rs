//! Aggregates over a series' stored history in a time window: what `min_over(price, "20d")` and
//! its kin in a condition stand for. A window covers the records of the series *before* the one
//! being evaluated (by sort key) whose time is at most `span` earlier; the record itself is not in
//! its own window, so `price > max_over(price, "20d")` is a breakout.

use std::time::Duration;

use serde_json::Value;

use super::Fields;

/// What is computed over a window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Aggregate {
    /// The least value (`min_over`).
    Min,
    /// The greatest value (`max_over`).
    Max,
    /// The mean (`avg_over`).
    Avg,
    /// The value of the earliest record (`first_over`).
    First,
    /// The value of the latest record (`last_over`).
    Last,
    /// How many records (`count_over`); has no field.
    Count,
}

/// One window a condition uses: an aggregate of a field over a span of time.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Window {
    /// What is computed.
    pub aggregate: Aggregate,
    /// The field it is computed over (`None` for `count_over`).
    pub field: Option<String>,
    /// How far back the window reaches from the record's time.
    pub span: Duration,
}

impl Window {
    /// The aggregate over `history`: the window's records, oldest first. `None` when no record
    /// has the field (the condition then cannot be evaluated for this record). Numbers are
    /// compared and averaged as `f64`.
    pub fn compute(&self, history: &[&Fields]) -> Option<Value> {
        if self.aggregate == Aggregate::Count {
            return Some(Value::from(history.len() as u64));
        }
        let field = self.field.as_deref()?;
        let mut values = history.iter().filter_map(|fields| fields.get(field));
        match self.aggregate {
            Aggregate::First => values.clone().next().cloned(),
            Aggregate::Last => values.next_back().cloned(),
            Aggregate::Min | Aggregate::Max | Aggregate::Avg => {
                let numbers: Vec<f64> = values.filter_map(as_f64).collect();
                if numbers.is_empty() {
                    return None;
                }
                let result = match self.aggregate {
                    Aggregate::Min => numbers.iter().copied().fold(f64::INFINITY, f64::min),
                    Aggregate::Max => numbers.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                    _ => numbers.iter().sum::<f64>() / numbers.len() as f64,
                };
                serde_json::Number::from_f64(result).map(Value::Number)
            }
            Aggregate::Count => unreachable!("handled above"),
        }
    }
}

/// A stored number (exact digits, or a numeric string) as `f64`.
pub fn as_f64(value: &Value) -> Option<f64> {
    match value {
        Value::Number(number) => number.to_string().parse().ok(),
        Value::String(text) => text.parse().ok(),
        _ => None,
    }
}

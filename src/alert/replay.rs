//! Replays a series' stored history through the rules, exactly as live evaluation would (the
//! same [`Engine`], record by record in sort-key order, from a fresh state): what `backtest`
//! prints, so a rule can be tuned before it mails anyone.

use chrono::{DateTime, Utc};

use super::engine::{Arrival, Engine, Step};
use super::{Alert, Fields, SeriesState};

/// The alerts the records of one series (`records`: sort key and attributes, in sort-key
/// order) raise when replayed from a series with no state. Windows see the records before each
/// one, as live; `now` stands in for a record without a time.
pub fn replay_series(
    engine: &Engine<'_>,
    series: &str,
    records: &[(String, Fields)],
    now: DateTime<Utc>,
) -> Vec<Alert> {
    let mut state = SeriesState::default();
    let mut alerts = Vec::new();
    let mut history: Vec<&Fields> = Vec::with_capacity(records.len());
    for (sort, fields) in records {
        let arrival = engine.arrival(&state, sort, fields);
        if arrival == Arrival::Repeat {
            continue;
        }
        let prev = state.last.as_ref().map(|last| last.fields.clone());
        let step = Step {
            sort,
            fields,
            prev: prev.as_ref(),
            history: &history,
        };
        alerts.extend(engine.evaluate(&mut state, series, arrival, &step, now));
        history.push(fields);
    }
    alerts
}

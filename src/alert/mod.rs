//! The alert stage: named rules over a *series* (the records sharing the partition key, such as
//! one symbol) that mail what matters, once.
//!
//! - `expr`: a rule's CEL condition, compiled once (where `validate`'s checks live: positions
//!   inside the expression, unknown names, types, always-true) and evaluated per record;
//! - `window`: aggregates over a series' stored history in a time window (`max_over(price, "20d")`);
//! - `rules`: a pipeline's compiled rules and their mail templates;
//! - `engine`: the one evaluation path, live and in `backtest`: a record, its previous record and
//!   its windows against the series' state → alerts fired or resolved, and the new state;
//! - `ledger`: where series state and the alert ledger live, beside the data (a small trait; SQLite
//!   locally, DynamoDB with conditional writes on AWS).
//!
//! What the runtime does with them, and how an alert is marked and mailed exactly once, is in
//! `runtime::alerts` and RELIABILITY.md.

pub mod engine;
pub mod expr;
pub mod ledger;
pub mod replay;
pub mod rules;
pub mod window;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A stored record's attributes as rules see them: the key attributes, the fields and the insert
/// time, by name.
pub type Fields = IndexMap<String, Value>;

/// What is remembered of one series between batches: its latest record (by sort key) and each
/// rule's state. Stored as JSON beside the data; `version` makes concurrent writers safe (a write
/// expects the version it read).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SeriesState {
    /// The series' latest evaluated record (greatest sort key), the `prev` of the next one.
    #[serde(default)]
    pub last: Option<Snapshot>,
    /// Each rule's state, by rule name. A rule missing here is armed and never fired.
    #[serde(default)]
    pub rules: BTreeMap<String, RuleState>,
    /// Incremented by every write; 0 for a series never written.
    #[serde(default)]
    pub version: u64,
    /// The series' latest evaluated records, oldest first, at most `engine::RECENT`: a
    /// redelivery of one of them after newer records were evaluated is a repeat, not a late
    /// record to evaluate again (it would fire against today's rule state).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recent: Vec<Seen>,
}

/// One evaluated record as the series' state remembers it: enough to know it again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    /// The record's sort key.
    pub sort: String,
    /// A fingerprint of its values, the insert time aside (a correction differs).
    pub values: String,
}

/// One record of a series as remembered: its sort key and attributes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The record's sort key (empty when the table has none).
    pub sort: String,
    /// The record's attributes.
    pub fields: Fields,
}

/// One rule's state for one series.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleState {
    /// The rule fired and has not re-armed since: it does not fire again until it re-arms.
    #[serde(default)]
    pub firing: bool,
    /// When it last fired (the firing record's time), for the cooldown.
    #[serde(default)]
    pub last_fired: Option<DateTime<Utc>>,
}

/// Whether an alert says a rule fired or that it is back to normal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertKind {
    /// The rule's condition became true.
    Fired,
    /// The rule re-armed after it fired (its `resolved` mail).
    Resolved,
}

/// One alert: a rule that fired (or resolved) for one record of one series, with the mail it
/// sends, rendered when it was raised (the ledger holds exactly what is mailed).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Deterministic: the same rule, kind, series and record always give the same id, so a
    /// redelivered record or a second writer cannot raise it twice ([`alert_id`]).
    pub id: String,
    /// The rule's name.
    pub rule: String,
    /// Fired or resolved.
    pub kind: AlertKind,
    /// The series (partition key value).
    pub series: String,
    /// The sort key of the record that raised it.
    pub sort: String,
    /// The record's time (see `engine`): when the alert happened.
    pub at: DateTime<Utc>,
    /// The rendered subject.
    pub subject: String,
    /// The rendered plain-text body.
    pub text: String,
    /// The rendered HTML body, when the rule has one.
    #[serde(default)]
    pub html: Option<String>,
}

/// The id of the alert `kind` of `rule` raised by the record `sort` of `series`: each part
/// percent-encoded, joined by `/`.
pub fn alert_id(rule: &str, kind: AlertKind, series: &str, sort: &str) -> String {
    let kind = match kind {
        AlertKind::Fired => "fired",
        AlertKind::Resolved => "resolved",
    };
    format!(
        "{}/{kind}/{}/{}",
        crate::percent::percent_encode(rule),
        crate::percent::percent_encode(series),
        crate::percent::percent_encode(sort)
    )
}

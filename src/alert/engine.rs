//! The one evaluation path of alert rules, live and in `backtest`: one record of a series, with
//! its previous record and its window history, against the series' state, gives the alerts it
//! raises and the series' next state. Pure: the caller reads what it needs (the state, the
//! previous record of a late one, the history) and writes what comes out.
//!
//! Per rule and record, in this order:
//! - an expired rule does nothing;
//! - a condition that cannot be evaluated (an optional field missing, no previous record yet, a
//!   division by zero) skips the rule for this record, with the reason logged: a rule's failure is
//!   never a record's;
//! - an *armed* rule whose `when` holds *fires*, unless it fired less than `cooldown` ago (it then
//!   stays armed and fires on a later record if `when` still holds);
//! - a *firing* rule *re-arms* when `rearm` holds (default: `when` no longer holds), and raises its
//!   `resolved` mail if it has one.
//!
//! Time is the record's own (`Rules::time_field`), never the clock, so a replay decides exactly as
//! the live run did. A record whose sort key is below the series' latest (it arrived late, or it
//! corrects a stored one) is evaluated against its own previous record and may fire, but it never
//! re-arms a rule or moves the series' latest: it says nothing about now. A record the series
//! evaluated recently (its latest [`RECENT`]), with the same values, is a redelivery: it is not
//! evaluated again, even when newer records were evaluated meanwhile (evaluated as late, it would
//! fire against today's rule state an alert its first evaluation did not raise; found by
//! bench/soak).

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::expr::{Condition, Scope};
use super::rules::{AlertContext, Rules};
use super::{Alert, AlertKind, Fields, Seen, SeriesState, Snapshot, alert_id};

/// How many of its latest evaluated records a series' state remembers, to know a redelivery of
/// one of them: more than a series gets while a message waits out its visibility timeout.
pub const RECENT: usize = 16;

/// Where a record stands against its series' state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arrival {
    /// Newer than anything the series has seen: evaluated, and becomes the series' latest.
    New,
    /// Older than the series' latest (late or a correction): evaluated against its own
    /// previous record; fires but never re-arms.
    Late,
    /// The series' latest again, with the same values: already evaluated.
    Repeat,
}

/// One record to evaluate, and what it is evaluated with.
#[derive(Clone, Copy, Debug)]
pub struct Step<'a> {
    /// The record's sort key (empty when the table has none).
    pub sort: &'a str,
    /// The record's attributes.
    pub fields: &'a Fields,
    /// The previous record of the series (greatest sort key below this one's).
    pub prev: Option<&'a Fields>,
    /// The series' records before this one, oldest first, reaching back at least the longest
    /// window (empty when no rule uses a window).
    pub history: &'a [&'a Fields],
}

/// What evaluating one record gave.
#[derive(Debug, Default)]
pub struct Evaluation {
    /// The alerts it raised.
    pub alerts: Vec<Alert>,
    /// The rules whose condition held but that were cooling down (`cooldown`): not raised.
    pub suppressed: Vec<String>,
}

/// Evaluates records of a series against the pipeline's rules.
#[derive(Clone, Debug)]
pub struct Engine<'r> {
    rules: &'r Rules,
    /// The insert-time attribute: left out when a record is compared with the series' latest
    /// (a redelivered record differs only there).
    inserted_at: &'r str,
}

impl<'r> Engine<'r> {
    /// An engine for `rules`, over records whose insert time is the attribute `inserted_at`.
    pub fn new(rules: &'r Rules, inserted_at: &'r str) -> Engine<'r> {
        Engine { rules, inserted_at }
    }

    /// Where a record with sort key `sort` and attributes `fields` stands against `state`.
    pub fn arrival(&self, state: &SeriesState, sort: &str, fields: &Fields) -> Arrival {
        let Some(last) = &state.last else {
            return Arrival::New;
        };
        if sort < last.sort.as_str() && !state.recent.is_empty() {
            let values = self.fingerprint(fields);
            if state
                .recent
                .iter()
                .any(|seen| seen.sort == sort && seen.values == values)
            {
                return Arrival::Repeat;
            }
        }
        match sort.cmp(last.sort.as_str()) {
            std::cmp::Ordering::Greater => Arrival::New,
            std::cmp::Ordering::Less => Arrival::Late,
            std::cmp::Ordering::Equal if self.same_values(fields, &last.fields) => Arrival::Repeat,
            // Without a sort key a series is one item, overwritten: a new value is news.
            std::cmp::Ordering::Equal if sort.is_empty() => Arrival::New,
            std::cmp::Ordering::Equal => Arrival::Late,
        }
    }

    /// The record's time: its time attribute, or `fallback` when it has none that parses.
    pub fn time_of(&self, fields: &Fields, fallback: DateTime<Utc>) -> DateTime<Utc> {
        fields
            .get(&self.rules.time_field)
            .and_then(Value::as_str)
            .and_then(|text| DateTime::parse_from_rfc3339(text).ok())
            .map_or(fallback, |time| time.to_utc())
    }

    /// Evaluates one record of `series` (arrived as `arrival`, not [`Arrival::Repeat`]) and
    /// updates `state`; returns the alerts it raises. `now` stands in for a record without a
    /// time.
    pub fn evaluate(
        &self,
        state: &mut SeriesState,
        series: &str,
        arrival: Arrival,
        step: &Step<'_>,
        now: DateTime<Utc>,
    ) -> Vec<Alert> {
        self.evaluate_counted(state, series, arrival, step, now)
            .alerts
    }

    /// [`Engine::evaluate`], also saying which rules held but were cooling down (for the
    /// runtime's metrics: the engine records nothing).
    pub fn evaluate_counted(
        &self,
        state: &mut SeriesState,
        series: &str,
        arrival: Arrival,
        step: &Step<'_>,
        now: DateTime<Utc>,
    ) -> Evaluation {
        let at = self.time_of(step.fields, now);
        let mut alerts = Vec::new();
        let mut suppressed = Vec::new();
        for (index, rule) in self.rules.rules.iter().enumerate() {
            if rule.expires.is_some_and(|expires| at >= expires) {
                continue;
            }
            let holds = match self.check(&rule.when, step, at) {
                Ok(holds) => holds,
                Err(reason) => {
                    skip(&rule.name, series, step.sort, "when", &reason);
                    continue;
                }
            };
            let rule_state = state.rules.entry(rule.name.clone()).or_default();
            let kind = if !rule_state.firing {
                let cooling = match (rule.cooldown, rule_state.last_fired) {
                    (Some(cooldown), Some(fired)) => {
                        at < fired + chrono::Duration::from_std(cooldown).unwrap_or_default()
                    }
                    _ => false,
                };
                if holds && cooling {
                    suppressed.push(rule.name.clone());
                }
                if !holds || cooling {
                    continue;
                }
                rule_state.firing = true;
                rule_state.last_fired = Some(at);
                AlertKind::Fired
            } else {
                if arrival == Arrival::Late {
                    continue;
                }
                let rearms = match &rule.rearm {
                    None => !holds,
                    Some(rearm) => match self.check(rearm, step, at) {
                        Ok(rearms) => rearms,
                        Err(reason) => {
                            skip(&rule.name, series, step.sort, "rearm", &reason);
                            continue;
                        }
                    },
                };
                if !rearms {
                    continue;
                }
                rule_state.firing = false;
                if !rule.resolves {
                    continue;
                }
                AlertKind::Resolved
            };
            let context = AlertContext {
                fields: step.fields,
                prev: step.prev,
                series,
                at,
            };
            match self.rules.render(index, kind, &context) {
                Ok(mail) => alerts.push(Alert {
                    id: alert_id(&rule.name, kind, series, step.sort),
                    rule: rule.name.clone(),
                    kind,
                    series: series.to_owned(),
                    sort: step.sort.to_owned(),
                    at,
                    subject: mail.subject,
                    text: mail.text,
                    html: mail.html,
                }),
                Err(reason) => tracing::error!(
                    rule = %rule.name,
                    series,
                    sort = step.sort,
                    %reason,
                    "alert raised but its mail cannot be rendered: not sent"
                ),
            }
        }
        state.recent.push(Seen {
            sort: step.sort.to_owned(),
            values: self.fingerprint(step.fields),
        });
        if state.recent.len() > RECENT {
            state.recent.drain(..state.recent.len() - RECENT);
        }
        if arrival == Arrival::New {
            state.last = Some(Snapshot {
                sort: step.sort.to_owned(),
                fields: step.fields.clone(),
            });
        }
        Evaluation { alerts, suppressed }
    }

    /// Evaluates `condition` for the record of `step` at `at`, with its windows' values.
    fn check(
        &self,
        condition: &Condition,
        step: &Step<'_>,
        at: DateTime<Utc>,
    ) -> Result<bool, String> {
        let windows: Vec<Option<Value>> = condition
            .windows
            .iter()
            .map(|window| {
                let since = at - chrono::Duration::from_std(window.span).unwrap_or_default();
                let inside: Vec<&Fields> = step
                    .history
                    .iter()
                    .copied()
                    .filter(|fields| {
                        let time = self.time_of(fields, at);
                        time >= since && time <= at
                    })
                    .collect();
                window.compute(&inside)
            })
            .collect();
        condition
            .evaluate(&Scope {
                fields: step.fields,
                prev: step.prev,
                windows: &windows,
            })
            .map_err(|error| error.0)
    }

    /// Whether two records have the same values, their insert times aside.
    fn same_values(&self, a: &Fields, b: &Fields) -> bool {
        crate::store::item::same_values(a, b, self.inserted_at)
    }

    /// A record's values by name (in name order), its insert time aside.
    fn relevant<'f>(&self, fields: &'f Fields) -> std::collections::BTreeMap<&'f str, &'f Value> {
        fields
            .iter()
            .filter(|(name, _)| name.as_str() != self.inserted_at)
            .map(|(name, value)| (name.as_str(), value))
            .collect()
    }

    /// A stable fingerprint of a record's values, its insert time aside: FNV-1a (64 bits) of
    /// their JSON, in hex. Stable across processes and versions (the state keeps it).
    fn fingerprint(&self, fields: &Fields) -> String {
        let json = serde_json::to_string(&self.relevant(fields)).unwrap_or_default();
        let hash = json.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
        });
        format!("{hash:016x}")
    }
}

/// Logs why a rule was skipped for one record: at debug when the series has no previous record
/// yet (every series' first record), else as a warning naming rule and key.
fn skip(rule: &str, series: &str, sort: &str, condition: &str, reason: &str) {
    if reason.contains("prev") {
        tracing::debug!(rule, series, sort, condition, %reason, "rule skipped for this record");
    } else {
        tracing::warn!(rule, series, sort, condition, %reason, "rule skipped for this record; the record is stored");
    }
}

#[cfg(test)]
mod tests;

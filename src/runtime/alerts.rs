//! Alerts in the batch lifecycle: after a batch's records are stored, [`raise`] evaluates them
//! against the series' state (the one evaluation path, `alert::engine`) and commits the new
//! state and the alerts it raised in one conditional write; [`mail`] then sends them, and
//! [`flush`] sends what is left in the outbox (a mail that failed, a process that died after the
//! commit) and the digest, when one is due.
//!
//! How an alert is marked and mailed so a crash loses nothing (RELIABILITY.md, "Alerts"): the
//! commit comes before the messages are acknowledged, so a crash before it leaves the batch to be
//! delivered and evaluated again (the state did not move); the alert enters the outbox with the
//! commit and leaves it only once mailed, so a crash after the commit leaves it to the next
//! flush. The one window: an alert mailed whose settle did not happen (a crash right after the
//! send) is mailed again once its lease ends.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use backon::BackoffBuilder;
use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use super::Stages;
use super::batch::{Emailed, STOP_GRACE, deliver};
use crate::alert::engine::{Arrival, Engine, Step};
use crate::alert::ledger::{AlertLedger, Commit, CommitError, StateWrite};
use crate::alert::rules::Rules;
use crate::alert::{Alert, AlertKind, Fields};
use crate::store::{Item, StoreError};

/// How long a sender holds the alerts it claimed before another may mail them, by default: four
/// e-mail attempts at the default deadline fit in it with room to spare. After a crash, an alert
/// the dead process claimed waits this long. `STOCKRUN_ALERT_LEASE` (such as `30s`) changes it.
pub const LEASE: Duration = Duration::from_secs(120);

/// The variable that changes [`LEASE`].
pub const LEASE_VARIABLE: &str = "STOCKRUN_ALERT_LEASE";

/// The lease this process uses: `STOCKRUN_ALERT_LEASE` when set to a duration, else [`LEASE`]
/// (a value that does not parse is logged and ignored).
pub fn lease_from_env() -> Duration {
    match std::env::var(LEASE_VARIABLE) {
        Ok(text) => humantime::parse_duration(text.trim()).unwrap_or_else(|error| {
            tracing::warn!(%error, variable = LEASE_VARIABLE, "not a duration; the default lease is used");
            LEASE
        }),
        Err(_) => LEASE,
    }
}

/// How often a running consumer looks at the outbox (leftovers, a due digest).
pub const FLUSH_EVERY: Duration = Duration::from_secs(30);

/// Commits tried before a batch whose series keep changing under it is given back: the first
/// and one after each pause of `retry::alert_commit`.
const COMMIT_ATTEMPTS: usize = 30;

/// The most outbox alerts one flush mails one by one.
const FLUSH_LIMIT: usize = 50;

/// The most alerts one digest mail lists.
const DIGEST_LIMIT: usize = 500;

/// The alert stage of a running pipeline: its compiled rules and where their state lives.
#[derive(Clone)]
pub struct AlertStage {
    /// The compiled rules.
    pub rules: Arc<Rules>,
    /// Series state, ledger and outbox.
    pub ledger: Arc<dyn AlertLedger>,
    /// How long claimed alerts are held ([`lease_from_env`]).
    pub lease: Duration,
}

/// Why a batch's alerts could not be committed: its stored messages are given back, so they
/// are delivered, stored (by key) and evaluated again.
#[derive(Debug, thiserror::Error)]
pub enum RaiseError {
    /// Reading the history or the state, or writing them, failed.
    #[error("alert state: {0}")]
    Store(#[from] StoreError),
    /// Other writers kept changing the batch's series.
    #[error("alert state of {0} kept changing under this batch ({COMMIT_ATTEMPTS} attempts)")]
    Contended(String),
}

/// Evaluates a batch's stored `items` and commits the series' new state with the alerts they
/// raised. Returns the alerts committed (claimed by the caller for its lease when they are to be
/// mailed at once, that is without a digest).
pub async fn raise(
    stages: &Stages,
    stage: &AlertStage,
    items: &[Item],
    now: DateTime<Utc>,
) -> Result<Vec<Alert>, RaiseError> {
    let mut by_series: BTreeMap<&str, Vec<&Item>> = BTreeMap::new();
    for item in items {
        by_series.entry(&item.partition).or_default().push(item);
    }
    for series_items in by_series.values_mut() {
        series_items.sort_by(|a, b| a.sort.cmp(&b.sort));
    }
    let series: Vec<String> = by_series.keys().map(|s| (*s).to_owned()).collect();
    let mut raised_already: Vec<String> = Vec::new();
    let mut conflicts = String::new();
    let mut pauses = crate::retry::alert_commit().build();
    for attempt in 0..COMMIT_ATTEMPTS {
        if attempt > 0
            && let Some(pause) = pauses.next()
        {
            tokio::time::sleep(pause).await;
        }
        // Rules held back by their cooldown in this attempt (counted once it commits).
        let mut suppressed: Vec<String> = Vec::new();
        let states = stage.ledger.load(&series).await?;
        let mut commit = Commit {
            claimed_until: stage
                .rules
                .digest
                .is_none()
                .then(|| now + chrono::Duration::from_std(stage.lease).unwrap_or_default()),
            ..Commit::default()
        };
        for (series, series_items) in &by_series {
            let before = states.get(*series).cloned().unwrap_or_default();
            let (state, alerts, held) =
                evaluate_series(stages, stage, series, series_items, &before, now).await?;
            suppressed.extend(held);
            commit.alerts.extend(
                alerts
                    .into_iter()
                    .filter(|a| !raised_already.contains(&a.id)),
            );
            if state != before {
                commit.states.push(StateWrite {
                    series: (*series).to_owned(),
                    expected_version: before.version,
                    state,
                });
            }
        }
        if commit.states.is_empty() && commit.alerts.is_empty() {
            count_alerts(stages, &[], &suppressed);
            return Ok(Vec::new());
        }
        match stage.ledger.commit(&commit).await {
            Ok(()) => {
                for alert in &commit.alerts {
                    tracing::info!(rule = %alert.rule, kind = ?alert.kind, series = %alert.series, sort = %alert.sort, "alert raised");
                }
                count_alerts(stages, &commit.alerts, &suppressed);
                return Ok(commit.alerts);
            }
            Err(CommitError::Conflict(series)) => {
                tracing::debug!(series = %series.join(", "), "series changed by another writer; evaluating again");
                conflicts = series.join(", ");
            }
            Err(CommitError::Duplicate(ids)) => {
                tracing::debug!(
                    alerts = ids.len(),
                    "alerts raised already by an earlier delivery; left out"
                );
                raised_already.extend(ids);
            }
            Err(CommitError::Store(error)) => return Err(RaiseError::Store(error)),
        }
    }
    Err(RaiseError::Contended(conflicts))
}

/// Counts a committed batch's alerts per rule (fired ones; resolved mails are not firings) and
/// the rules held back by their cooldown, as the metrics of the pipeline.
fn count_alerts(stages: &Stages, alerts: &[Alert], suppressed: &[String]) {
    let mut by_rule: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for alert in alerts.iter().filter(|a| a.kind == AlertKind::Fired) {
        by_rule.entry(&alert.rule).or_default().0 += 1;
    }
    for rule in suppressed {
        by_rule.entry(rule).or_default().1 += 1;
    }
    for (rule, (fired, held)) in by_rule {
        crate::metrics::alerts(&stages.pipeline.name.value, rule, fired, held);
    }
}

/// Evaluates one series' records (sorted by sort key) from the state `before`: the series' next
/// state, the alerts raised and the rules their cooldown held back (once per record).
async fn evaluate_series(
    stages: &Stages,
    stage: &AlertStage,
    series: &str,
    items: &[&Item],
    before: &crate::alert::SeriesState,
    now: DateTime<Utc>,
) -> Result<(crate::alert::SeriesState, Vec<Alert>, Vec<String>), StoreError> {
    let store_config = &stages.pipeline.store;
    let engine = Engine::new(&stage.rules, &store_config.inserted_at);
    let mut state = before.clone();
    let mut alerts = Vec::new();
    let mut suppressed = Vec::new();
    // The series' records before the batch's first, as far back as the longest window.
    let mut seen: Vec<Fields> = match items.first() {
        Some(first) => {
            let first_sort = first.sort.as_deref().unwrap_or("");
            window_history(stages, stage, &engine, series, first, first_sort, now).await?
        }
        None => Vec::new(),
    };
    for item in items {
        let sort = item.sort.as_deref().unwrap_or("");
        let arrival = engine.arrival(&state, sort, &item.attributes);
        match arrival {
            Arrival::Repeat => {}
            Arrival::New => {
                let prev = state.last.as_ref().map(|last| last.fields.clone());
                let history: Vec<&Fields> = seen.iter().collect();
                let step = Step {
                    sort,
                    fields: &item.attributes,
                    prev: prev.as_ref(),
                    history: &history,
                };
                let evaluation = engine.evaluate_counted(&mut state, series, arrival, &step, now);
                alerts.extend(evaluation.alerts);
                suppressed.extend(evaluation.suppressed);
                seen.push(item.attributes.clone());
            }
            Arrival::Late => {
                let prev = stages.store.previous(series, sort).await?;
                let late_history =
                    window_history(stages, stage, &engine, series, item, sort, now).await?;
                let history: Vec<&Fields> = late_history.iter().collect();
                let step = Step {
                    sort,
                    fields: &item.attributes,
                    prev: prev.as_ref().map(|item| &item.attributes),
                    history: &history,
                };
                let evaluation = engine.evaluate_counted(&mut state, series, arrival, &step, now);
                alerts.extend(evaluation.alerts);
                suppressed.extend(evaluation.suppressed);
            }
        }
    }
    Ok((state, alerts, suppressed))
}

/// The stored records of `series` before the sort key `before` that the windows of a record
/// (`item`) can reach, oldest first; none when no rule uses a window.
async fn window_history(
    stages: &Stages,
    stage: &AlertStage,
    engine: &Engine<'_>,
    series: &str,
    item: &Item,
    before: &str,
    now: DateTime<Utc>,
) -> Result<Vec<Fields>, StoreError> {
    let Some(longest) = stage.rules.longest_window else {
        return Ok(Vec::new());
    };
    let from = history_start(&stage.rules, stages, engine, &item.attributes, longest, now);
    Ok(stages
        .store
        .range(series, &from, before)
        .await?
        .into_iter()
        .map(|item| item.attributes)
        .collect())
}

/// The least sort key a window of `longest` before the record `fields` can reach: its time
/// minus `longest` when the sort key is the record's time (RFC 3339 sorts as text), else the
/// start of the series (the window then filters by time).
fn history_start(
    rules: &Rules,
    stages: &Stages,
    engine: &Engine<'_>,
    fields: &Fields,
    longest: Duration,
    now: DateTime<Utc>,
) -> String {
    let sort_is_time = stages
        .pipeline
        .store
        .key
        .sort
        .as_ref()
        .is_some_and(|sort| sort.value.trim() == format!("{{{{{}}}}}", rules.time_field));
    if !sort_is_time {
        return String::new();
    }
    let at = engine.time_of(fields, now);
    crate::process::timestamp::to_rfc3339(
        at - chrono::Duration::from_std(longest).unwrap_or_default(),
    )
}

/// Mails alerts committed with a claim (no digest), one mail each, and takes the mailed ones out
/// of the outbox. Returns how many were mailed. What is not mailed stays in the outbox for
/// [`flush`] once the claim's lease ends.
pub async fn mail(
    stages: &Stages,
    stage: &AlertStage,
    alerts: &[Alert],
    stop: &CancellationToken,
) -> usize {
    let (Some(templates), Some(notifier)) = (&stages.templates, &stages.notifier) else {
        return 0;
    };
    let mut mailed: Vec<String> = Vec::new();
    // A stop (a signal, a Lambda deadline drawing near) leaves the alerts not yet mailed to a
    // later flush, but only once `STOP_GRACE` has passed since it was seen: like the batch mail,
    // what a healthy server takes a moment to send still goes out now.
    let mut stopped_at: Option<std::time::Instant> = None;
    for alert in alerts {
        if stop.is_cancelled()
            && stopped_at
                .get_or_insert_with(std::time::Instant::now)
                .elapsed()
                >= STOP_GRACE
        {
            break;
        }
        let mut email = match templates.alert_email(alert) {
            Ok(email) => email,
            Err(error) => {
                tracing::error!(%error, rule = %alert.rule, "cannot build the alert's e-mail; it stays in the outbox");
                continue;
            }
        };
        super::chart::attach(
            stages,
            &mut email,
            &[alert.series.as_str()],
            stages.clock.now(),
        )
        .await;
        match deliver(
            stages,
            notifier.as_ref(),
            &email,
            stop,
            "the alerts stay in the outbox",
        )
        .await
        {
            Emailed::Sent => mailed.push(alert.id.clone()),
            Emailed::NotSent | Emailed::Cut | Emailed::NotDue => {
                tracing::warn!(rule = %alert.rule, series = %alert.series, "alert not mailed now; it stays in the outbox and is mailed by a later flush");
            }
        }
    }
    settle(stage, &mailed).await;
    mailed.len()
}

/// Takes mailed alerts out of the outbox; a failure is logged (they are mailed again after the
/// lease: the one window where an alert can be mailed twice).
async fn settle(stage: &AlertStage, mailed: &[String]) {
    if mailed.is_empty() {
        return;
    }
    if let Err(error) = stage.ledger.settle(mailed).await {
        tracing::error!(%error, alerts = mailed.len(), "mailed alerts could not be taken out of the outbox; they will be mailed again");
    }
}

/// Sends what the outbox holds that nobody is mailing: without a digest, each alert on its own
/// (the leftovers of a failed mail or a stopped process); with one, every waiting alert in one
/// mail once the period since the last digest has passed. Returns the alerts mailed.
pub async fn flush(stages: &Stages, stop: &CancellationToken, now: DateTime<Utc>) -> usize {
    let Some(stage) = &stages.alerts else {
        return 0;
    };
    let result = match stage.rules.digest {
        None => flush_each(stages, stage, stop, now).await,
        Some(period) => flush_digest(stages, stage, stop, now, period).await,
    };
    let mailed = result.unwrap_or_else(|error| {
        tracing::warn!(%error, "the alert outbox could not be read; it is tried again later");
        0
    });
    // One mail each, or one digest for them all.
    let emails = if stage.rules.digest.is_some() {
        mailed.min(1)
    } else {
        mailed
    };
    crate::metrics::emails_sent(&stages.pipeline.name.value, emails);
    mailed
}

async fn flush_each(
    stages: &Stages,
    stage: &AlertStage,
    stop: &CancellationToken,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let pending = stage.ledger.claim(now, stage.lease, FLUSH_LIMIT).await?;
    let alerts: Vec<Alert> = pending.into_iter().map(|p| p.alert).collect();
    Ok(mail(stages, stage, &alerts, stop).await)
}

async fn flush_digest(
    stages: &Stages,
    stage: &AlertStage,
    stop: &CancellationToken,
    now: DateTime<Utc>,
    period: Duration,
) -> Result<usize, StoreError> {
    if let Some(last) = stage.ledger.last_digest().await?
        && now < last + chrono::Duration::from_std(period).unwrap_or_default()
    {
        return Ok(0);
    }
    let (Some(templates), Some(notifier)) = (&stages.templates, &stages.notifier) else {
        return Ok(0);
    };
    let pending = stage.ledger.claim(now, stage.lease, DIGEST_LIMIT).await?;
    if pending.is_empty() {
        return Ok(0);
    }
    let alerts: Vec<Alert> = pending.into_iter().map(|p| p.alert).collect();
    let mut email = match templates.digest_email(&alerts) {
        Ok(email) => email,
        Err(error) => {
            tracing::error!(%error, "cannot build the digest e-mail; its alerts stay in the outbox");
            return Ok(0);
        }
    };
    let series: Vec<&str> = alerts.iter().map(|alert| alert.series.as_str()).collect();
    super::chart::attach(stages, &mut email, &series, now).await;
    if deliver(
        stages,
        notifier.as_ref(),
        &email,
        stop,
        "the alerts stay in the outbox",
    )
    .await
        != Emailed::Sent
    {
        tracing::warn!(
            alerts = alerts.len(),
            "digest not mailed now; its alerts stay in the outbox"
        );
        return Ok(0);
    }
    let ids: Vec<String> = alerts.iter().map(|a| a.id.clone()).collect();
    settle(stage, &ids).await;
    if let Err(error) = stage.ledger.digest_sent(now).await {
        tracing::warn!(%error, "the digest's time could not be recorded; the next digest may come early");
    }
    Ok(alerts.len())
}

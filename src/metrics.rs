//! The metrics stockrun reports, in one place: every name, its labels, unit and description, and
//! one function per thing counted, so a call site cannot misspell a name or add a label. They go
//! through the `metrics` facade: a long-running command installs the Prometheus recorder
//! ([`install_prometheus`], served by `crate::http` on `--metrics ADDR`); the Lambda function
//! installs the CloudWatch Embedded Metric Format one ([`install_emf`], flushed once per
//! invocation into the log). Without a recorder (every other command, unit tests) each call
//! does nothing.
//!
//! Labels stay bounded: the pipeline's name, a feed's label (from the pipeline file), an alert
//! rule's name, a failure kind, an outcome; never a series key or a record. In EMF each label is
//! a CloudWatch dimension, so the alarms of `deploy-template` name the same labels (the names
//! and label keys below are what `crate::deploy` uses).

use std::sync::OnceLock;

use ::metrics::{Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// The CloudWatch namespace of the EMF metrics (and of the alarms on them).
pub const NAMESPACE: &str = "stockrun";

/// The label (EMF dimension) naming the pipeline: on every metric.
pub const PIPELINE: &str = "pipeline";
/// The label naming a feed (`symbol=MSFT`, or [`ONLY_FEED`]).
pub const FEED: &str = "feed";
/// The label of a poll's outcome on [`POLLS`]: [`OK`] or `failed`.
pub const OUTCOME: &str = "outcome";
/// The outcome of a poll in which every feed answered with records or none.
pub const OK: &str = "ok";
/// The outcome of a poll in which a feed failed.
pub const FAILED: &str = "failed";
/// The label of a source failure's kind on [`SOURCE_FAILURES`].
pub const KIND: &str = "kind";
/// The label naming an alert rule.
pub const RULE: &str = "rule";
/// The feed label of a pipeline without `feeds` (an empty dimension value is invalid in EMF).
pub const ONLY_FEED: &str = "-";

/// Records found in responses.
pub const RECORDS_FETCHED: &str = "stockrun_records_fetched_total";
/// Records sent to the queue.
pub const RECORDS_QUEUED: &str = "stockrun_records_queued_total";
/// Records refused by the poller: as a message over the queue's 256 KiB limit.
pub const RECORDS_REFUSED: &str = "stockrun_records_refused_total";
/// Records written to the store.
pub const RECORDS_STORED: &str = "stockrun_records_stored_total";
/// Deliveries of poison records (released; dead-lettered after `max_receive_count`).
pub const RECORDS_DEAD_LETTERED: &str = "stockrun_records_poison_total";
/// Polls (one per schedule firing), by outcome.
pub const POLLS: &str = "stockrun_polls_total";
/// How long one feed's request took, retries and pages included.
pub const POLL_DURATION: &str = "stockrun_poll_duration_seconds";
/// Feeds that failed, by kind ([`FailureKind`]).
pub const SOURCE_FAILURES: &str = "stockrun_source_failures_total";
/// The API's remaining requests, from its rate-limit headers.
pub const QUOTA_REMAINING: &str = "stockrun_api_quota_remaining";
/// The remaining requests as a share of the limit (0–1), when the API sends its limit.
pub const QUOTA_REMAINING_RATIO: &str = "stockrun_api_quota_remaining_ratio";
/// Messages waiting or in flight in the queue (refreshed every few seconds by a long-running command).
pub const QUEUE_DEPTH: &str = "stockrun_queue_depth";
/// Messages in the dead-letter queue (refreshed with [`QUEUE_DEPTH`]).
pub const DEAD_LETTER_DEPTH: &str = "stockrun_dead_letter_depth";
/// Digest and alert e-mails sent.
pub const EMAILS_SENT: &str = "stockrun_emails_sent_total";
/// Digest e-mails not sent after every attempt.
pub const EMAILS_FAILED: &str = "stockrun_emails_failed_total";
/// Alerts raised (committed to the alert ledger).
pub const ALERTS_FIRED: &str = "stockrun_alerts_fired_total";
/// Alerts whose condition held while the rule cooled down (`cooldown`): not raised.
pub const ALERTS_SUPPRESSED: &str = "stockrun_alerts_suppressed_total";
/// When a feed last answered (Unix seconds).
pub const LAST_SUCCESSFUL_POLL: &str = "stockrun_last_successful_poll_timestamp_seconds";

/// The buckets of [`POLL_DURATION`], in seconds: from a fast API to a slow one with retries.
const POLL_BUCKETS: [f64; 10] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

/// Every metric: name, kind, unit and description; [`describe`] registers them and the README's
/// list is checked against it.
pub const ALL: [(&str, Kind, &str); 17] = [
    (RECORDS_FETCHED, Kind::Counter, "records found in responses"),
    (RECORDS_QUEUED, Kind::Counter, "records sent to the queue"),
    (
        RECORDS_REFUSED,
        Kind::Counter,
        "records not queued: as a message over the queue's 256 KiB limit",
    ),
    (
        RECORDS_STORED,
        Kind::Counter,
        "records written to the store",
    ),
    (
        RECORDS_DEAD_LETTERED,
        Kind::Counter,
        "deliveries of poison records (released; dead-lettered after max_receive_count)",
    ),
    (
        POLLS,
        Kind::Counter,
        "polls, by outcome (ok: every feed answered)",
    ),
    (
        POLL_DURATION,
        Kind::Histogram,
        "one feed's request, retries and pages included",
    ),
    (
        SOURCE_FAILURES,
        Kind::Counter,
        "feeds that failed, by kind (http_4xx, http_5xx, http_3xx, timeout, transport, too_large, file, body_rejected)",
    ),
    (
        QUOTA_REMAINING,
        Kind::Gauge,
        "the API's remaining requests (rate-limit headers)",
    ),
    (
        QUOTA_REMAINING_RATIO,
        Kind::Gauge,
        "the API's remaining requests as a share of its limit",
    ),
    (
        QUEUE_DEPTH,
        Kind::Gauge,
        "messages waiting or in flight in the queue",
    ),
    (
        DEAD_LETTER_DEPTH,
        Kind::Gauge,
        "messages in the dead-letter queue",
    ),
    (EMAILS_SENT, Kind::Counter, "digest and alert e-mails sent"),
    (
        EMAILS_FAILED,
        Kind::Counter,
        "digest e-mails not sent after every attempt",
    ),
    (ALERTS_FIRED, Kind::Counter, "alerts raised"),
    (
        ALERTS_SUPPRESSED,
        Kind::Counter,
        "alerts not raised: the rule was cooling down",
    ),
    (
        LAST_SUCCESSFUL_POLL,
        Kind::Gauge,
        "when a feed last answered (Unix seconds)",
    ),
];

/// What a metric is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Only grows.
    Counter,
    /// Goes up and down.
    Gauge,
    /// A distribution (Prometheus buckets; EMF values).
    Histogram,
}

/// The unit of a metric, from its name.
fn unit(name: &str) -> Unit {
    if name.ends_with("_seconds") {
        Unit::Seconds
    } else {
        Unit::Count
    }
}

/// Registers every metric's unit and description with the installed recorder.
pub fn describe() {
    for (name, kind, help) in ALL {
        match kind {
            Kind::Counter => describe_counter!(name, unit(name), help),
            Kind::Gauge => describe_gauge!(name, unit(name), help),
            Kind::Histogram => describe_histogram!(name, unit(name), help),
        }
    }
}

/// Why the recorder could not be installed: another one is (a second call in one process).
#[derive(Debug, thiserror::Error)]
#[error("cannot install the metrics recorder: {0}")]
pub struct InstallError(String);

/// Installs the Prometheus recorder for this process and returns the handle that renders it.
/// Installed once: a second call returns the first handle.
pub fn install_prometheus() -> Result<PrometheusHandle, InstallError> {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    if let Some(handle) = HANDLE.get() {
        return Ok(handle.clone());
    }
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(POLL_DURATION.to_owned()), &POLL_BUCKETS)
        .map_err(|error| InstallError(error.to_string()))?
        .install_recorder()
        .map_err(|error| InstallError(error.to_string()))?;
    describe();
    Ok(HANDLE.get_or_init(|| handle).clone())
}

/// Installs the CloudWatch EMF recorder (namespace [`NAMESPACE`]); [`flush_emf`] writes what
/// was recorded since the last flush.
pub fn install_emf() -> Result<(), InstallError> {
    let collector = metrics_cloudwatch_embedded::Builder::new()
        .cloudwatch_namespace(NAMESPACE)
        .init()
        .map_err(|error| InstallError(error.to_string()))?;
    // Set once: a second install failed above.
    let _ = EMF.set(collector);
    describe();
    Ok(())
}

/// The EMF collector, once installed.
static EMF: OnceLock<&'static metrics_cloudwatch_embedded::Collector> = OnceLock::new();

/// Writes the EMF documents of what was recorded since the last flush to `out`, one JSON line
/// per label set (nothing when the EMF recorder is not installed). Written whole, line by line:
/// the log's other lines never interleave with one.
pub fn flush_emf(out: &mut impl std::io::Write) -> std::io::Result<()> {
    let Some(collector) = EMF.get() else {
        return Ok(());
    };
    let mut buffer = Vec::new();
    collector.flush(&mut buffer)?;
    out.write_all(&buffer)?;
    out.flush()
}

/// A feed's label value: its label, or [`ONLY_FEED`] for a pipeline without `feeds` (the name
/// the feed status gives it too).
pub fn feed_label(feed: &str) -> String {
    if feed.is_empty() {
        ONLY_FEED.to_owned()
    } else {
        feed.to_owned()
    }
}

/// Why a feed failed, as [`SOURCE_FAILURES`] labels it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// The API answered 4xx.
    Http4xx,
    /// The API answered 5xx.
    Http5xx,
    /// A redirect that was not followed (or another status outside 2xx).
    HttpOther,
    /// No response within `source.timeout`.
    Timeout,
    /// The connection failed or broke.
    Transport,
    /// The body was over `source.max_body`.
    TooLarge,
    /// A `file:` URL could not be read.
    File,
    /// The body was an error (`source.errors`), not JSON, or its records could not be selected.
    BodyRejected,
}

impl FailureKind {
    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            FailureKind::Http4xx => "http_4xx",
            FailureKind::Http5xx => "http_5xx",
            FailureKind::HttpOther => "http_3xx",
            FailureKind::Timeout => "timeout",
            FailureKind::Transport => "transport",
            FailureKind::TooLarge => "too_large",
            FailureKind::File => "file",
            FailureKind::BodyRejected => "body_rejected",
        }
    }

    /// The kind of an HTTP status outside 2xx.
    pub fn of_status(status: u16) -> FailureKind {
        match status {
            400..=499 => FailureKind::Http4xx,
            500..=599 => FailureKind::Http5xx,
            _ => FailureKind::HttpOther,
        }
    }
}

/// A feed's poll: `records` fetched in `seconds` (its last successful poll is now), or failed.
pub fn feed_polled(pipeline: &str, feed: &str, seconds: f64, outcome: Result<usize, FailureKind>) {
    let feed = feed_label(feed);
    ::metrics::histogram!(POLL_DURATION, PIPELINE => pipeline.to_owned(), FEED => feed.clone())
        .record(seconds);
    match outcome {
        Ok(records) => {
            counter!(RECORDS_FETCHED, PIPELINE => pipeline.to_owned(), FEED => feed.clone())
                .increment(records as u64);
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |since| since.as_secs_f64().floor());
            gauge!(LAST_SUCCESSFUL_POLL, PIPELINE => pipeline.to_owned(), FEED => feed).set(now);
        }
        Err(kind) => {
            counter!(SOURCE_FAILURES, PIPELINE => pipeline.to_owned(), FEED => feed, KIND => kind.label())
                .increment(1);
        }
    }
}

/// A poll of every feed ended; `ok` when none failed.
pub fn polled(pipeline: &str, ok: bool) {
    let outcome = if ok { OK } else { FAILED };
    counter!(POLLS, PIPELINE => pipeline.to_owned(), OUTCOME => outcome).increment(1);
}

/// The API's allowance from its rate-limit headers: `remaining`, of `limit` when it says.
pub fn quota(pipeline: &str, remaining: u64, limit: Option<u64>) {
    gauge!(QUOTA_REMAINING, PIPELINE => pipeline.to_owned()).set(remaining as f64);
    if let Some(limit) = limit.filter(|limit| *limit > 0) {
        gauge!(QUOTA_REMAINING_RATIO, PIPELINE => pipeline.to_owned())
            .set(remaining as f64 / limit as f64);
    }
}

/// Records sent to the queue (`queued`) and refused as too large (`refused`).
pub fn queued(pipeline: &str, queued: usize, refused: usize) {
    if queued > 0 {
        counter!(RECORDS_QUEUED, PIPELINE => pipeline.to_owned()).increment(queued as u64);
    }
    if refused > 0 {
        counter!(RECORDS_REFUSED, PIPELINE => pipeline.to_owned()).increment(refused as u64);
    }
}

/// What a batch did: records stored, poison deliveries, e-mails sent and not sent.
pub fn batch_settled(pipeline: &str, stored: usize, poison: usize, sent: usize, failed: usize) {
    let add = |name: &'static str, n: usize| {
        if n > 0 {
            counter!(name, PIPELINE => pipeline.to_owned()).increment(n as u64);
        }
    };
    add(RECORDS_STORED, stored);
    add(RECORDS_DEAD_LETTERED, poison);
    add(EMAILS_SENT, sent);
    add(EMAILS_FAILED, failed);
}

/// E-mails sent outside a batch (alerts mailed from the outbox by a flush).
pub fn emails_sent(pipeline: &str, sent: usize) {
    batch_settled(pipeline, 0, 0, sent, 0);
}

/// Alerts of `rule` raised (`fired`) and held back by its cooldown (`suppressed`).
pub fn alerts(pipeline: &str, rule: &str, fired: usize, suppressed: usize) {
    if fired > 0 {
        counter!(ALERTS_FIRED, PIPELINE => pipeline.to_owned(), RULE => rule.to_owned())
            .increment(fired as u64);
    }
    if suppressed > 0 {
        counter!(ALERTS_SUPPRESSED, PIPELINE => pipeline.to_owned(), RULE => rule.to_owned())
            .increment(suppressed as u64);
    }
}

/// The queue's depth: messages `waiting` and `dead` (in the dead-letter queue).
pub fn queue_depth(pipeline: &str, waiting: u64, dead: u64) {
    gauge!(QUEUE_DEPTH, PIPELINE => pipeline.to_owned()).set(waiting as f64);
    gauge!(DEAD_LETTER_DEPTH, PIPELINE => pipeline.to_owned()).set(dead as f64);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_prometheus_names_and_counters_end_in_total() {
        let mut seen = std::collections::BTreeSet::new();
        for (name, kind, help) in ALL {
            assert!(seen.insert(name), "{name} twice");
            assert!(name.starts_with("stockrun_"), "{name}");
            assert!(
                name.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{name}"
            );
            assert_eq!(kind == Kind::Counter, name.ends_with("_total"), "{name}");
            assert!(!help.is_empty());
        }
    }

    #[test]
    fn statuses_fall_into_classes() {
        assert_eq!(FailureKind::of_status(404), FailureKind::Http4xx);
        assert_eq!(FailureKind::of_status(429), FailureKind::Http4xx);
        assert_eq!(FailureKind::of_status(503), FailureKind::Http5xx);
        assert_eq!(FailureKind::of_status(302).label(), "http_3xx");
    }

    #[test]
    fn recorded_values_reach_the_recorder_with_bounded_labels() {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        ::metrics::with_local_recorder(&recorder, || {
            describe();
            feed_polled("stocks", "", 0.2, Ok(3));
            feed_polled("stocks", "symbol=MSFT", 0.1, Err(FailureKind::Timeout));
            polled("stocks", false);
            quota("stocks", 40, Some(500));
        });
        let text = handle.render();
        assert!(
            text.contains("stockrun_records_fetched_total{pipeline=\"stocks\",feed=\"-\"} 3"),
            "{text}"
        );
        assert!(
            text.contains(
                "stockrun_source_failures_total{pipeline=\"stocks\",feed=\"symbol=MSFT\",kind=\"timeout\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains("stockrun_polls_total{pipeline=\"stocks\",outcome=\"failed\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("stockrun_api_quota_remaining_ratio{pipeline=\"stocks\"} 0.08"),
            "{text}"
        );
    }
}

//! The poller side: poll on the pipeline's schedule (in its zone, only inside `source.active`:
//! the loop waits for the next active firing) and send every record to the queue in batches of
//! at most ten. A failing poll or send is logged and the loop goes on, except when the
//! queue fails in a way trying again cannot fix (a damaged state file, a full disk): then the
//! poller stops with that error. A stop request ends the sending and its retries at once. Log
//! lines are not redacted here: the log writer hides every registered secret (`crate::logging`).

use std::time::Duration;

use backon::Retryable;
use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use super::counters::Counters;
use crate::queue::{MAX_BATCH, MAX_MESSAGE_BYTES, Queue, QueueError};
use crate::retry;
use crate::source::Poller;

/// Polls once and queues every record. A send that fails is retried (not once `stop` is
/// cancelled), then its records count as not queued. Records left when `stop` is cancelled count
/// as not queued too (the next poll fetches them again). An error trying again cannot fix ends
/// the sending: the rest count as not queued and the error is returned.
pub async fn poll_and_queue(
    poller: &Poller,
    queue: &dyn Queue,
    counters: &Counters,
    stop: &CancellationToken,
) -> Result<(), QueueError> {
    let report = poller.poll_once().await;
    Counters::add(&counters.requests, report.requests);
    Counters::add(&counters.failed_feeds, report.failed_feeds);
    Counters::add(&counters.fetched, report.messages.len() as u64);
    let mut bodies: Vec<String> = Vec::with_capacity(report.messages.len());
    for (i, message) in report.messages.iter().enumerate() {
        let body = message.to_body();
        if body.len() > MAX_MESSAGE_BYTES {
            // It could never be sent: say which and why, and queue the others. Not dead-lettered
            // (RELIABILITY.md, "Hostile conditions"): the log says where to find it.
            tracing::error!(
                feed = %serde_json::Value::Object(message.feed.clone()),
                index = report.positions.get(i),
                record = %message.identity(),
                bytes = body.len(),
                limit = MAX_MESSAGE_BYTES,
                "record not queued: as a message it is over the queue's 256 KiB limit; point `source.records` at smaller records"
            );
            Counters::add(&counters.too_large, 1);
            continue;
        }
        bodies.push(body);
    }
    let refused = report.messages.len() - bodies.len();
    let mut permanent: Option<QueueError> = None;
    let mut left = 0;
    let mut sent = 0;
    for chunk in bodies.chunks(MAX_BATCH) {
        if permanent.is_some() || stop.is_cancelled() {
            left += chunk.len();
            continue;
        }
        match send(queue, chunk, stop).await {
            Ok(()) => {
                sent += chunk.len();
                Counters::add(&counters.queued, chunk.len() as u64);
            }
            Err(error) if !error.is_transient() => {
                left += chunk.len();
                permanent = Some(error);
            }
            Err(error) => {
                tracing::error!(
                    records = chunk.len(),
                    %error,
                    "records not queued after retries; they are fetched again by the next poll"
                );
                Counters::add(&counters.not_queued, chunk.len() as u64);
            }
        }
    }
    crate::metrics::queued(poller.pipeline(), sent, refused);
    if left > 0 {
        Counters::add(&counters.not_queued, left as u64);
        if permanent.is_none() {
            tracing::warn!(
                records = left,
                "stopping: records not queued; they are fetched again by the next poll"
            );
        }
    }
    tracing::info!(
        records = report.messages.len(),
        requests = report.requests,
        failed_feeds = report.failed_feeds,
        "poll done"
    );
    permanent.map_or(Ok(()), Err)
}

/// Sends one batch, retrying what may pass on a second try, for as long as `stop` is not
/// cancelled: a stop request cuts a retry pause short, and no retry follows the next failure.
async fn send(
    queue: &dyn Queue,
    chunk: &[String],
    stop: &CancellationToken,
) -> Result<(), QueueError> {
    let stopped = stop.clone();
    let pause = move |wait: Duration| {
        let stopped = stopped.clone();
        async move {
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = stopped.cancelled() => {}
            }
        }
    };
    let send = || queue.send_batch(chunk);
    send.retry(retry::queue_send())
        .sleep(pause)
        .when(|error| error.is_transient() && !stop.is_cancelled())
        .notify(|error, wait| {
            tracing::warn!(%error, retry_in = ?wait, "cannot queue records; retrying");
        })
        .await
}

/// Where the poll loop reads the time and waits for it: the system clock, or a test's (which
/// moves its time instead of sleeping).
pub trait Clock {
    /// The time now.
    fn now(&self) -> DateTime<Utc>;
    /// Waits until `at`, or until `stop` is cancelled: then returns `false`.
    fn sleep_until(
        &self,
        at: DateTime<Utc>,
        stop: &CancellationToken,
    ) -> impl Future<Output = bool>;
}

/// The system clock and tokio's timer.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    async fn sleep_until(&self, at: DateTime<Utc>, stop: &CancellationToken) -> bool {
        let wait = (at - Utc::now()).to_std().unwrap_or(Duration::ZERO);
        tokio::select! {
            () = tokio::time::sleep(wait) => true,
            () = stop.cancelled() => false,
        }
    }
}

/// Polls at every firing of the pipeline's schedule (in `source.timezone`, inside
/// `source.active`) until `stop` is cancelled. A poll that overruns the next firing skips it
/// rather than polling twice in a row. Returns the queue's error when it is one trying again
/// cannot fix.
pub async fn poll_on_schedule(
    poller: &Poller,
    queue: &dyn Queue,
    counters: &Counters,
    stop: &CancellationToken,
) -> Result<(), QueueError> {
    poll_on_schedule_by(&SystemClock, poller, queue, counters, stop).await
}

/// [`poll_on_schedule`] on `clock`.
pub async fn poll_on_schedule_by(
    clock: &impl Clock,
    poller: &Poller,
    queue: &dyn Queue,
    counters: &Counters,
    stop: &CancellationToken,
) -> Result<(), QueueError> {
    loop {
        let now = clock.now();
        let Some(next) = poller.next_fire(now) else {
            tracing::warn!(
                "the schedule fires no more inside `source.active` (none in the next 400 days); polling stops"
            );
            return Ok(());
        };
        tracing::info!(next = %next.to_rfc3339_opts(chrono::SecondsFormat::Secs, true), "next poll");
        if !clock.sleep_until(next, stop).await {
            return Ok(());
        }
        poll_and_queue(poller, queue, counters, stop).await?;
    }
}

#[cfg(test)]
mod tests;

//! The poller side: poll on the pipeline's schedule (in its zone, only inside `source.active`:
//! the loop waits for the next active firing) and send every record to the queue in batches of
//! at most ten. A failing poll or send is logged and the loop goes on, except when the
//! queue fails in a way trying again cannot fix (a damaged state file, a full disk): then the
//! poller stops with that error. A stop request ends the sending and its retries at once. After
//! each poll the feeds' status is recorded (`source::status`, for `stockrun serve`); that never
//! fails a poll: a failure to write it is a warning. Log lines are not redacted here: the log
//! writer hides every registered secret (`crate::logging`).

use std::sync::Arc;
use std::time::Duration;

use backon::Retryable;
use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use serde_json::{Map, Value};

use super::backend::Backend;
use super::counters::Counters;
use crate::config::Pipeline;
use crate::message::Message;
use crate::queue::{MAX_BATCH, MAX_MESSAGE_BYTES, Queue, QueueError};
use crate::retry;
use crate::source::status::FeedStatusStore;
use crate::source::{FeedPolled, Flow, Poller, Sink};

/// The feed status the poller of `pipeline` records to on `backend`; `None`, with a warning,
/// when it cannot be opened (polling goes on without it).
pub fn feed_status(backend: &Backend, pipeline: &Pipeline) -> Option<Arc<dyn FeedStatusStore>> {
    match backend.feed_status(pipeline) {
        Ok(status) => Some(status),
        Err(error) => {
            tracing::warn!(%error, "the feed status cannot be opened: polls are not recorded for `stockrun serve`");
            None
        }
    }
}

/// Records the feeds of one poll in `status`; a failure is a warning, never the poll's.
async fn record_status(status: Option<&dyn FeedStatusStore>, feeds: &[FeedPolled]) {
    let Some(status) = status.filter(|_| !feeds.is_empty()) else {
        return;
    };
    if let Err(error) = status.record(feeds).await {
        tracing::warn!(%error, feeds = feeds.len(), "the feed status was not recorded; polling goes on");
    }
}

/// Polls once and queues the records as the pages are handed on, in batches of ten across
/// pages and feeds (so a poll holds a few responses, not every record of every feed, and sends
/// as few batches as before). A send that fails is retried (not once `stop` is cancelled), then
/// its records count as not queued. Once `stop` is cancelled, the records in hand count as not
/// queued and no further feed is requested (the next poll fetches them again). An error trying
/// again cannot fix ends the sending and the poll: the records in hand count as not queued and
/// the error is returned. How each feed's poll ended is recorded in `status`, when given.
pub async fn poll_and_queue(
    poller: &Poller,
    queue: &dyn Queue,
    status: Option<&dyn FeedStatusStore>,
    counters: &Counters,
    stop: &CancellationToken,
) -> Result<(), QueueError> {
    let mut sink = QueueSink {
        queue,
        counters,
        stop,
        pending: Vec::with_capacity(MAX_BATCH),
        permanent: None,
        left: 0,
    };
    let (queued_before, refused_before) = (
        Counters::get(&counters.queued),
        Counters::get(&counters.too_large),
    );
    let stats = poller.poll(&mut sink).await;
    sink.send_pending(0).await;
    record_status(status, &stats.feeds).await;
    crate::metrics::queued(
        poller.pipeline(),
        (Counters::get(&counters.queued) - queued_before) as usize,
        (Counters::get(&counters.too_large) - refused_before) as usize,
    );
    Counters::add(&counters.requests, stats.requests);
    Counters::add(&counters.failed_feeds, stats.failed_feeds);
    if sink.left > 0 && sink.permanent.is_none() {
        tracing::warn!(
            records = sink.left,
            "stopping: records not queued; they are fetched again by the next poll"
        );
    }
    tracing::info!(
        records = stats.records,
        requests = stats.requests,
        failed_feeds = stats.failed_feeds,
        "poll done"
    );
    sink.permanent.map_or(Ok(()), Err)
}

/// Queues the records handed on in batches of ten, counting what it queued and what it could
/// not.
struct QueueSink<'a> {
    queue: &'a dyn Queue,
    counters: &'a Counters,
    stop: &'a CancellationToken,
    /// Bodies not sent yet: fewer than a batch between pages.
    pending: Vec<String>,
    /// The error trying again cannot fix that ended the sending.
    permanent: Option<QueueError>,
    /// Records not sent because of a stop or `permanent`.
    left: u64,
}

impl QueueSink<'_> {
    /// Sends the pending bodies in batches while more than `keep` are pending (`0`: all).
    async fn send_pending(&mut self, keep: usize) {
        let counters = self.counters;
        while !self.pending.is_empty() && self.pending.len() > keep {
            let n = self.pending.len().min(MAX_BATCH);
            if n < MAX_BATCH && keep > 0 {
                return;
            }
            let chunk: Vec<String> = self.pending.drain(..n).collect();
            if self.permanent.is_some() || self.stop.is_cancelled() {
                self.not_sent(chunk.len());
                continue;
            }
            match send(self.queue, &chunk, self.stop).await {
                Ok(()) => Counters::add(&counters.queued, chunk.len() as u64),
                Err(error) if !error.is_transient() => {
                    self.not_sent(chunk.len());
                    self.permanent = Some(error);
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
    }

    /// Counts `n` records not sent because of a stop or an error trying again cannot fix.
    fn not_sent(&mut self, n: usize) {
        Counters::add(&self.counters.not_queued, n as u64);
        self.left += n as u64;
    }
}

impl Sink for QueueSink<'_> {
    async fn take(&mut self, feed: &Map<String, Value>, first: usize, bodies: Vec<String>) -> Flow {
        let counters = self.counters;
        Counters::add(&counters.fetched, bodies.len() as u64);
        for (index, body) in (first..).zip(bodies) {
            if body.len() > MAX_MESSAGE_BYTES {
                // It could never be sent: say which and why, and queue the others. Not
                // dead-lettered (RELIABILITY.md, "Hostile conditions"): the log says where to
                // find it.
                let record = serde_json::from_str::<Message>(&body)
                    .map(|message| message.identity())
                    .unwrap_or_default();
                tracing::error!(
                    feed = %serde_json::Value::Object(feed.clone()),
                    index,
                    record = %record,
                    bytes = body.len(),
                    limit = MAX_MESSAGE_BYTES,
                    "record not queued: as a message it is over the queue's 256 KiB limit; point `source.records` at smaller records"
                );
                Counters::add(&counters.too_large, 1);
                continue;
            }
            self.pending.push(body);
            if self.pending.len() >= MAX_BATCH {
                self.send_pending(MAX_BATCH - 1).await;
            }
        }
        if self.permanent.is_some() || self.stop.is_cancelled() {
            // What is pending is not sent: counted now.
            self.send_pending(0).await;
            Flow::Stop
        } else {
            Flow::Continue
        }
    }
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
/// (logged and counted) rather than polling twice in a row. Returns the queue's error when it is
/// one trying again cannot fix.
pub async fn poll_on_schedule(
    poller: &Poller,
    queue: &dyn Queue,
    status: Option<&dyn FeedStatusStore>,
    counters: &Counters,
    stop: &CancellationToken,
) -> Result<(), QueueError> {
    poll_on_schedule_by(&SystemClock, poller, queue, status, counters, stop).await
}

/// [`poll_on_schedule`] on `clock`.
pub async fn poll_on_schedule_by(
    clock: &impl Clock,
    poller: &Poller,
    queue: &dyn Queue,
    status: Option<&dyn FeedStatusStore>,
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
        poll_and_queue(poller, queue, status, counters, stop).await?;
        note_overrun(poller, next, clock.now(), counters);
    }
}

/// The most skipped firings counted after one poll: a dense schedule overrun by hours is not
/// walked firing by firing.
const MAX_SKIPPED_COUNTED: u64 = 1_000;

/// Logs and counts the firings a poll started at `fired` overran (those up to `now`): the loop
/// goes on from the first firing after `now`, so they are skipped, not made up.
fn note_overrun(poller: &Poller, fired: DateTime<Utc>, now: DateTime<Utc>, counters: &Counters) {
    let mut skipped = 0;
    let mut at = fired;
    while skipped < MAX_SKIPPED_COUNTED {
        match poller.next_fire(at) {
            Some(missed) if missed <= now => {
                skipped += 1;
                at = missed;
            }
            _ => break,
        }
    }
    if skipped > 0 {
        let took = (now - fired).to_std().unwrap_or_default();
        tracing::warn!(
            skipped,
            poll_ms = u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
            "the poll took longer than the schedule allows: firings skipped, not stacked; poll less often, or raise `source.concurrency` when the quota allows"
        );
        Counters::add(&counters.skipped_polls, skipped);
    }
}

#[cfg(test)]
mod tests;

//! The poller side: poll on the pipeline's schedule and send every record to the queue in
//! batches of at most ten. A failing poll or send is logged and the loop goes on. Log lines are
//! not redacted here: the log writer hides every registered secret (`crate::logging`).

use std::time::Duration;

use backon::Retryable;
use tokio_util::sync::CancellationToken;

use super::counters::Counters;
use crate::queue::{MAX_BATCH, MAX_MESSAGE_BYTES, Queue, QueueError};
use crate::retry;
use crate::source::Poller;

/// Polls once and queues every record.
pub async fn poll_and_queue(poller: &Poller, queue: &dyn Queue, counters: &Counters) {
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
    for chunk in bodies.chunks(MAX_BATCH) {
        let send = || queue.send_batch(chunk);
        let sent = send
            .retry(retry::queue_send())
            .when(|error| !matches!(error, QueueError::TooLarge { .. }))
            .notify(|error, wait| {
                tracing::warn!(%error, retry_in = ?wait, "cannot queue records; retrying");
            })
            .await;
        match sent {
            Ok(()) => Counters::add(&counters.queued, chunk.len() as u64),
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
    tracing::info!(
        records = report.messages.len(),
        requests = report.requests,
        failed_feeds = report.failed_feeds,
        "poll done"
    );
}

/// Polls at every firing of the pipeline's schedule (UTC) until `stop` is cancelled. A poll that
/// overruns the next firing skips it rather than polling twice in a row.
pub async fn poll_on_schedule(
    poller: &Poller,
    queue: &dyn Queue,
    counters: &Counters,
    stop: &CancellationToken,
) {
    loop {
        let now = chrono::Utc::now();
        let Some(next) = poller.next_fire(now) else {
            tracing::warn!("the schedule never fires again; polling stops");
            return;
        };
        let wait = (next - now).to_std().unwrap_or(Duration::ZERO);
        tracing::info!(next = %next.to_rfc3339_opts(chrono::SecondsFormat::Secs, true), "next poll");
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = stop.cancelled() => return,
        }
        poll_and_queue(poller, queue, counters).await;
    }
}

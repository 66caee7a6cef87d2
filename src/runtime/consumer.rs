//! The consumer: the local stand-in for the Lambda SQS trigger. It gathers up to `batch_size`
//! messages (or what arrived within `batch_window` of the first), hands them to
//! [`handle_batch`], then deletes what was stored and releases poison records so they reach the
//! dead-letter queue. Nothing is deleted before it is stored.

use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::Stages;
use super::batch::{BatchOutcome, handle_batch};
use super::counters::Counters;
use crate::queue::{QueueError, Received};

/// How long one receive waits for a first message (SQS long polling's maximum).
const LONG_POLL: Duration = Duration::from_secs(20);

/// While draining, how long to wait for messages another consumer holds (or that a stopped run
/// left in flight) before looking again.
const DRAIN_RECHECK: Duration = Duration::from_millis(500);

/// When the consumer stops.
#[derive(Clone, Debug)]
pub enum Until {
    /// Until the queue is empty (nothing waiting, nothing in flight): `run --once`.
    Drained,
    /// Until the token is cancelled (a signal); the batch in hand is finished first.
    Cancelled(CancellationToken),
}

/// Consumes batches until `until`. Queue errors are logged and retried after a pause; they end
/// the loop only when stopping.
pub async fn consume(stages: &Stages, counters: &Counters, until: &Until) {
    loop {
        let batch = match gather(stages, until).await {
            Ok(batch) => batch,
            Err(error) => {
                tracing::error!(error = %stages.redactor.redact(&error.to_string()), "cannot receive from the queue; retrying in 5 s");
                if wait_or_stop(until, Duration::from_secs(5)).await {
                    return;
                }
                continue;
            }
        };
        if batch.is_empty() {
            match until {
                Until::Cancelled(token) if token.is_cancelled() => return,
                Until::Cancelled(_) => continue,
                Until::Drained => match stages.queue.counts().await {
                    Ok(counts) if counts.is_drained() => return,
                    Ok(counts) => {
                        if counts.visible == 0 {
                            tracing::info!(
                                in_flight = counts.in_flight,
                                "waiting for messages in flight to be deleted or to become visible again"
                            );
                            tokio::time::sleep(DRAIN_RECHECK).await;
                        }
                        continue;
                    }
                    Err(error) => {
                        tracing::error!(error = %error, "cannot count the queue");
                        return;
                    }
                },
            }
        }
        let outcome = handle_batch(stages, batch).await;
        settle(stages, counters, outcome).await;
    }
}

/// Receives until the batch is full, the window since the first message has passed, or (when
/// draining) nothing more is waiting. Cancellation stops the gathering, keeping what is in hand.
async fn gather(stages: &Stages, until: &Until) -> Result<Vec<Received>, QueueError> {
    let batch_size = usize::try_from(*stages.pipeline.queue.batch_size).unwrap_or(10);
    let window = stages.pipeline.queue.batch_window.value.0;
    let mut batch: Vec<Received> = Vec::with_capacity(batch_size);
    let mut window_ends: Option<Instant> = None;
    while batch.len() < batch_size {
        let wait = match (until, window_ends) {
            (Until::Drained, _) => Duration::ZERO,
            (Until::Cancelled(_), None) => LONG_POLL,
            (Until::Cancelled(_), Some(end)) => end.saturating_duration_since(Instant::now()),
        };
        let wanted = batch_size - batch.len();
        let received = match until {
            Until::Cancelled(token) => tokio::select! {
                received = stages.queue.receive(wanted, wait) => received?,
                () = token.cancelled() => return Ok(batch),
            },
            Until::Drained => stages.queue.receive(wanted, wait).await?,
        };
        if received.is_empty() {
            let window_over = window_ends.is_some_and(|end| Instant::now() >= end);
            if matches!(until, Until::Drained) || window_over || batch.is_empty() {
                break;
            }
            continue;
        }
        window_ends.get_or_insert_with(|| Instant::now() + window);
        batch.extend(received);
        if window_ends.is_some_and(|end| Instant::now() >= end) {
            break;
        }
    }
    Ok(batch)
}

/// Deletes stored messages and releases poison ones; counts everything.
async fn settle(stages: &Stages, counters: &Counters, outcome: BatchOutcome) {
    let queue = &stages.queue;
    if !outcome.stored.is_empty() {
        let receipts: Vec<&str> = outcome.stored.iter().map(|m| m.receipt.as_str()).collect();
        if let Err(error) = queue.delete_batch(&receipts).await {
            // Stored but not deleted: delivered again and overwritten with the same key.
            tracing::warn!(error = %error, "stored records could not be deleted from the queue; they will be stored again");
        }
        Counters::add(&counters.stored, outcome.stored.len() as u64);
    }
    if !outcome.poison.is_empty() {
        let failed: Vec<(&str, &str)> = outcome
            .poison
            .iter()
            .map(|(m, reason)| (m.receipt.as_str(), reason.as_str()))
            .collect();
        if let Err(error) = queue.release(&failed).await {
            tracing::warn!(error = %error, "poison records could not be released; they come back after the visibility timeout");
        }
        Counters::add(&counters.poison, outcome.poison.len() as u64);
    }
    Counters::add(&counters.store_failures, outcome.failed.len() as u64);
    if outcome.email.is_some() {
        Counters::add(&counters.emails, 1);
    }
    if !outcome.failed.is_empty() {
        // The store is failing: give it a moment rather than spinning on redeliveries.
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Waits `pause`, or less when stopping; says whether to stop.
async fn wait_or_stop(until: &Until, pause: Duration) -> bool {
    match until {
        Until::Drained => {
            tokio::time::sleep(pause).await;
            false
        }
        Until::Cancelled(token) => tokio::select! {
            () = tokio::time::sleep(pause) => false,
            () = token.cancelled() => true,
        },
    }
}

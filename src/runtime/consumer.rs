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

/// Queue errors in a row after which a drain gives up (a long-running consumer never does).
const DRAIN_QUEUE_ERRORS: u32 = 5;

/// The longest pause after store failures before receiving again.
const MAX_STORE_PAUSE: Duration = Duration::from_secs(60);

/// When the consumer stops.
#[derive(Clone, Debug)]
pub struct Until {
    /// Stop once the queue is empty (nothing waiting, nothing in flight): `--once`.
    pub drained: bool,
    /// Stop when cancelled (SIGINT/SIGTERM), after finishing the batch in hand.
    pub stop: CancellationToken,
}

/// Why a drain stopped before the queue was empty.
#[derive(Debug, thiserror::Error)]
pub enum ConsumeError {
    /// The queue kept failing.
    #[error("the queue keeps failing ({0}); what is queued stays queued")]
    Queue(#[source] QueueError),
    /// The store failed after retries; the batch's records stay queued.
    #[error(
        "the store is failing: {records} record(s) could not be stored and stay queued (see the log)"
    )]
    Store {
        /// Records of the failed batch.
        records: usize,
    },
}

/// Consumes batches until `until` says to stop.
pub async fn consume(
    stages: &Stages,
    counters: &Counters,
    until: &Until,
) -> Result<(), ConsumeError> {
    let mut queue_errors = 0;
    let mut store_failures = 0;
    let mut said_waiting = false;
    while !until.stop.is_cancelled() {
        let batch = match gather(stages, until).await {
            Ok(batch) => {
                queue_errors = 0;
                batch
            }
            Err(error) => {
                queue_errors += 1;
                if until.drained && queue_errors >= DRAIN_QUEUE_ERRORS {
                    return Err(ConsumeError::Queue(error));
                }
                tracing::error!(error = %stages.redactor.redact(&error.to_string()), "cannot receive from the queue; retrying in 5 s");
                pause(until, Duration::from_secs(5)).await;
                continue;
            }
        };
        if batch.is_empty() {
            if !until.drained {
                continue;
            }
            let counts = stages.queue.counts().await.map_err(ConsumeError::Queue)?;
            if counts.is_drained() {
                return Ok(());
            }
            if counts.visible == 0 {
                if !said_waiting {
                    tracing::info!(
                        in_flight = counts.in_flight,
                        "waiting for messages in flight (another consumer, or an earlier run that stopped) to be deleted or to become visible again"
                    );
                    said_waiting = true;
                }
                pause(until, DRAIN_RECHECK).await;
            }
            continue;
        }
        let outcome = handle_batch(stages, batch).await;
        let failed = outcome.failed.len();
        settle(stages, counters, outcome).await;
        if failed == 0 {
            store_failures = 0;
            continue;
        }
        if until.drained {
            return Err(ConsumeError::Store { records: failed });
        }
        // Stop receiving for a while: every delivery counts towards the dead-letter queue, so
        // receiving while the store is down would dead-letter healthy records.
        store_failures += 1;
        let wait = Duration::from_secs(1_u64 << store_failures.min(6)).min(MAX_STORE_PAUSE);
        tracing::warn!(pause = ?wait, "store failing: pausing before receiving again");
        pause(until, wait).await;
    }
    Ok(())
}

/// Receives until the batch is full, the window since the first message has passed, or (when
/// draining) nothing more is waiting. A stop request ends the gathering, keeping what is in hand.
async fn gather(stages: &Stages, until: &Until) -> Result<Vec<Received>, QueueError> {
    let batch_size = usize::try_from(*stages.pipeline.queue.batch_size).unwrap_or(10);
    let window = stages.pipeline.queue.batch_window.value.0;
    let mut batch: Vec<Received> = Vec::with_capacity(batch_size);
    let mut window_ends: Option<Instant> = None;
    while batch.len() < batch_size && !until.stop.is_cancelled() {
        let wait = match (until.drained, window_ends) {
            (true, _) => Duration::ZERO,
            (false, None) => LONG_POLL,
            (false, Some(end)) => end.saturating_duration_since(Instant::now()),
        };
        let wanted = batch_size - batch.len();
        // A receive dropped by the stop request may already have leased messages: they come
        // back after their visibility timeout (not lost, only late). The stop is checked first.
        let received = tokio::select! {
            biased;
            () = until.stop.cancelled() => break,
            received = stages.queue.receive(wanted, wait) => received?,
        };
        if received.is_empty() {
            let window_over = window_ends.is_some_and(|end| Instant::now() >= end);
            if until.drained || window_over || batch.is_empty() {
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
}

/// Waits `duration`, or less when asked to stop.
async fn pause(until: &Until, duration: Duration) {
    tokio::select! {
        () = tokio::time::sleep(duration) => {}
        () = until.stop.cancelled() => {}
    }
}

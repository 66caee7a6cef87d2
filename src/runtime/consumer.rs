//! The consumer: the local stand-in for the Lambda SQS trigger. It gathers up to `batch_size`
//! messages (or what arrived within `batch_window` of the first) and runs them through the one
//! batch lifecycle, [`handle_batch`] with [`Acknowledge::WithNextReceive`]: store, e-mail the
//! digest, release poison records so they reach the dead-letter queue, then delete what was
//! stored, at once, with the receive of the next batch (one transaction on the embedded queue:
//! [`crate::queue::Queue::delete_and_receive`]), or on its own before a flush, a hold or a stop. Nothing
//! is deleted before it is stored and e-mailed: a consumer that dies at any point leaves the batch
//! to be delivered again (stored once, by key; e-mailed at least once). It counts what each batch
//! did for the run's summary.
//!
//! A batch is held past its visibility timeout in one place only: while the store is failing,
//! `retry_failed` keeps it and extends its visibility before every pause, so it is not delivered
//! again meanwhile. Otherwise the visibility timeout (by default `batch_window` + 30 s, never
//! shorter than the window) covers gathering, storing and e-mailing; an e-mail retried past it
//! means the batch is delivered again, so its quotes are e-mailed twice (never not at all).

use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::Stages;
use super::alerts::{self, FLUSH_EVERY};
use super::batch::{Acknowledge, Emailed, Halt, Settled, delete_stored, handle_batch};
use super::counters::Counters;
use crate::queue::{MAX_BATCH, MAX_WAIT, QueueError, Received};
use crate::resources::PROCESSING_ALLOWANCE;
use crate::retry::{QUEUE_ERROR_PAUSE, store_hold_pause};

/// While draining, how long to wait for messages another consumer holds (or that a stopped run
/// left in flight) before looking again.
const DRAIN_RECHECK: Duration = Duration::from_millis(500);

/// Queue errors in a row after which a drain gives up (a long-running consumer never does).
const DRAIN_QUEUE_ERRORS: u32 = 5;

/// When the consumer stops.
#[derive(Clone, Debug)]
pub struct Until {
    /// Stop once the queue is empty (nothing waiting, nothing in flight): `--once`.
    pub drained: bool,
    /// Stop when cancelled (SIGINT/SIGTERM), after finishing the batch in hand; its e-mail step
    /// is cut short (the batch is then left queued, see [`handle_batch`]).
    pub stop: CancellationToken,
}

/// Why a drain stopped before the queue was empty.
#[derive(Debug, thiserror::Error)]
pub enum ConsumeError {
    /// The queue kept failing (the message quotes the cause, so it is not a `source` too).
    #[error("the queue keeps failing ({0}); what is queued stays queued")]
    Queue(QueueError),
    /// The store failed after retries; the batch's records stay queued.
    #[error(
        "the store is failing: {records} record(s) could not be stored and stay queued (see the log)"
    )]
    Store {
        /// Records of the failed batch.
        records: usize,
    },
    /// The queue or the store failed in a way trying again cannot fix (a damaged state file, a
    /// full disk): going on would store and e-mail the same records again and again.
    #[error("the consumer stopped: {0}")]
    Halted(Halt),
}

/// Consumes batches until `until` says to stop.
pub async fn consume(
    stages: &Stages,
    counters: &Counters,
    until: &Until,
) -> Result<(), ConsumeError> {
    let mut queue_errors = 0;
    let mut said_waiting = false;
    let note_queue_error = |errors: &mut u32, error: QueueError| {
        if !error.is_transient() {
            return Err(ConsumeError::Halted(Halt::Queue(error)));
        }
        *errors += 1;
        if until.drained && *errors >= DRAIN_QUEUE_ERRORS {
            return Err(ConsumeError::Queue(error));
        }
        tracing::error!(
            %error,
            "queue error; retrying in {} s",
            QUEUE_ERROR_PAUSE.as_secs()
        );
        Ok(())
    };
    let mut next_flush = Instant::now();
    // The stored messages of the last batch: deleted with the next receive, or before anything
    // else that can take a while (a flush of the alert outbox, holding a failed batch, a stop).
    let mut done: Vec<Received> = Vec::new();
    while !until.stop.is_cancelled() {
        if Instant::now() >= next_flush {
            delete_done(stages, &mut done).await?;
            flush_outbox(stages, counters, &until.stop).await;
            next_flush = Instant::now() + FLUSH_EVERY;
        }
        let (batch, error) = gather(stages, until, &mut done).await;
        match error {
            None => queue_errors = 0,
            Some(error) => note_queue_error(&mut queue_errors, error)?,
        }
        if queue_errors > 0 && batch.is_empty() {
            pause(until, QUEUE_ERROR_PAUSE).await;
            continue;
        }
        if batch.is_empty() {
            if !until.drained {
                continue;
            }
            let counts = match stages.queue.counts().await {
                Ok(counts) => counts,
                Err(error) => {
                    note_queue_error(&mut queue_errors, error)?;
                    pause(until, QUEUE_ERROR_PAUSE).await;
                    continue;
                }
            };
            if counts.is_drained() {
                flush_outbox(stages, counters, &until.stop).await;
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
        let failed;
        (failed, done) = settle(stages, counters, batch, &until.stop).await?;
        if !failed.is_empty() {
            delete_done(stages, &mut done).await?;
            retry_failed(stages, counters, until, failed).await?;
        }
    }
    delete_done(stages, &mut done).await
}

/// Deletes the stored messages of the last batch now; a failure trying again cannot fix stops
/// the consumer, as in [`handle_batch`].
async fn delete_done(stages: &Stages, done: &mut Vec<Received>) -> Result<(), ConsumeError> {
    match delete_stored(stages, &std::mem::take(done)).await {
        Some(error) => Err(ConsumeError::Halted(Halt::Queue(error))),
        None => Ok(()),
    }
}

/// Keeps a batch whose store write failed in hand and retries it with a growing pause, without
/// receiving more: every receive counts towards the dead-letter queue, so receiving while the
/// store is down would dead-letter healthy records. Before each pause the batch's visibility is
/// extended past the pause, so neither this consumer nor another gets it again meanwhile. A
/// drain gives up at once (exit 1); on stop, or when giving up, the messages are released with
/// the reason.
async fn retry_failed(
    stages: &Stages,
    counters: &Counters,
    until: &Until,
    mut failed: Vec<Received>,
) -> Result<(), ConsumeError> {
    let records = failed.len();
    Counters::add(&counters.store_failures, records as u64);
    let mut attempt = 0_u32;
    while !failed.is_empty() {
        if until.drained || until.stop.is_cancelled() {
            let reason = "store failing: not stored";
            let receipts: Vec<(&str, &str)> = failed
                .iter()
                .map(|m| (m.receipt.as_str(), reason))
                .collect();
            if let Err(error) = stages.queue.release(&receipts).await {
                tracing::warn!(%error, "could not release the unstored records; they come back after the visibility timeout");
            }
            return if until.drained {
                Err(ConsumeError::Store { records })
            } else {
                Ok(())
            };
        }
        attempt += 1;
        let wait = store_hold_pause(attempt);
        tracing::warn!(records = failed.len(), retry_in = ?wait, "store failing: holding the batch and retrying");
        // Hidden past the pause for the store write and the delete after it.
        hold(stages, &failed, wait + PROCESSING_ALLOWANCE).await;
        pause(until, wait).await;
        if until.stop.is_cancelled() {
            continue;
        }
        let mut done;
        (failed, done) = settle(stages, counters, failed, &until.stop).await?;
        delete_done(stages, &mut done).await?;
    }
    Ok(())
}

/// Keeps held messages hidden for `by` more. A failure is logged, not fatal: at worst the
/// messages are delivered again (and stored once, by key).
async fn hold(stages: &Stages, messages: &[Received], by: Duration) {
    let receipts: Vec<&str> = messages.iter().map(|m| m.receipt.as_str()).collect();
    if let Err(error) = stages.queue.extend_visibility(&receipts, by).await {
        tracing::warn!(%error, "could not extend the held batch's visibility; it may be delivered again meanwhile");
    }
}

/// Receives until the batch is full, the window since the first message has passed, or (when
/// draining) nothing more is waiting; the first receive deletes `done` (the last batch's stored
/// messages) in the same step, and empties it. A stop request ends the gathering, keeping what
/// is in hand; so does a queue error (returned beside the batch, which is still processed).
async fn gather(
    stages: &Stages,
    until: &Until,
    done: &mut Vec<Received>,
) -> (Vec<Received>, Option<QueueError>) {
    let batch_size = usize::try_from(*stages.pipeline.queue.batch_size).unwrap_or(MAX_BATCH);
    let window = stages.pipeline.queue.batch_window.value.0;
    let mut batch: Vec<Received> = Vec::with_capacity(batch_size);
    let mut window_ends: Option<Instant> = None;
    while batch.len() < batch_size && !until.stop.is_cancelled() {
        let wait = match (until.drained, window_ends) {
            (true, _) => Duration::ZERO,
            // A long poll, as long as SQS allows one.
            (false, None) => MAX_WAIT,
            (false, Some(end)) => end.saturating_duration_since(Instant::now()),
        };
        let wanted = batch_size - batch.len();
        // Not raced against the stop: the queue cuts only its waiting short, so messages it has
        // taken are never dropped.
        let receipts: Vec<&str> = done.iter().map(|m| m.receipt.as_str()).collect();
        let receiving = stages
            .queue
            .delete_and_receive(&receipts, wanted, wait, &until.stop)
            .await;
        if !done.is_empty() && receiving.is_err() {
            tracing::warn!(
                records = done.len(),
                "stored records could not be deleted from the queue; they will be stored again"
            );
        }
        done.clear();
        let received = match receiving {
            Ok(received) => received,
            Err(error) => return (batch, Some(error)),
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
    (batch, None)
}

/// Runs a batch through the lifecycle, counts what it did and gives back the messages whose store
/// write failed and the stored ones, for the caller to delete (with its next receive); or, when
/// the queue or the store failed in a way trying again cannot fix, the error that stops the
/// consumer (what was stored is deleted first; the rest comes back after its visibility
/// timeout, to a consumer started once the cause is fixed).
///
/// The lifecycle e-mails before it deletes: a consumer that dies before the delete leaves the
/// batch queued, so it is stored (overwritten) and e-mailed again. Deleting first would lose the
/// digest of a batch whose consumer died between the delete and the send (found by bench/soak: a
/// SIGKILL while SES was throttled left stored quotes in no e-mail).
///
/// A stop cuts the e-mail step short (see [`handle_batch`]); the batch's stored messages are then
/// released, not deleted, so the next run stores and e-mails them again.
async fn settle(
    stages: &Stages,
    counters: &Counters,
    batch: Vec<Received>,
    stop: &CancellationToken,
) -> Result<(Vec<Received>, Vec<Received>), ConsumeError> {
    let Settled {
        stored,
        done,
        poison,
        failed,
        unmailed,
        emailed,
        alerts_raised,
        alerts_mailed,
        halt,
    } = handle_batch(stages, batch, Acknowledge::WithNextReceive, stop).await;
    Counters::add(&counters.alerts, alerts_raised as u64);
    Counters::add(&counters.emails, alerts_mailed as u64);
    match emailed {
        Emailed::Sent => Counters::add(&counters.emails, 1),
        Emailed::NotSent => Counters::add(&counters.emails_not_sent, 1),
        Emailed::Cut => Counters::add(&counters.emails_cut, unmailed.len() as u64),
        Emailed::NotDue => {}
    }
    Counters::add(&counters.stored, stored as u64);
    Counters::add(&counters.poison, poison.len() as u64);
    match halt {
        Some(halt) => {
            Counters::add(&counters.store_failures, failed.len() as u64);
            // Stopping anyway: a delete that fails too is left to the halt's error.
            let _ = delete_stored(stages, &done).await;
            Err(ConsumeError::Halted(halt))
        }
        None => Ok((failed, done)),
    }
}

/// Mails what the alert outbox holds that nobody is mailing, and a due digest (see
/// [`alerts::flush`]).
async fn flush_outbox(stages: &Stages, counters: &Counters, stop: &CancellationToken) {
    if stages.alerts.is_none() {
        return;
    }
    let mailed = alerts::flush(stages, stop, stages.clock.now()).await;
    Counters::add(&counters.alerts_mailed_later, mailed as u64);
}

/// Waits `duration`, or less when asked to stop.
async fn pause(until: &Until, duration: Duration) {
    tokio::select! {
        () = tokio::time::sleep(duration) => {}
        () = until.stop.cancelled() => {}
    }
}

#[cfg(test)]
mod tests;

//! The consumer: the local stand-in for the Lambda SQS trigger. It gathers up to `batch_size`
//! messages (or what arrived within `batch_window` of the first) and runs them through the one
//! batch lifecycle, [`handle_batch`] with [`Acknowledge::Delete`]: store, e-mail the digest, then
//! delete what was stored and release poison records so they reach the dead-letter queue. Nothing
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
use super::batch::{Acknowledge, Emailed, Halt, Settled, handle_batch};
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
    while !until.stop.is_cancelled() {
        let (batch, error) = gather(stages, until).await;
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
        let failed = settle(stages, counters, batch, &until.stop).await?;
        if !failed.is_empty() {
            retry_failed(stages, counters, until, failed).await?;
        }
    }
    Ok(())
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
        failed = settle(stages, counters, failed, &until.stop).await?;
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
/// draining) nothing more is waiting. A stop request ends the gathering, keeping what is in hand;
/// so does a queue error (returned beside the batch, which is still processed).
async fn gather(stages: &Stages, until: &Until) -> (Vec<Received>, Option<QueueError>) {
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
        let received = match stages.queue.receive_until(wanted, wait, &until.stop).await {
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

/// Runs a batch through the lifecycle (deleting what was stored), counts what it did and gives
/// back the messages whose store write failed; or, when the queue or the store failed in a way
/// trying again cannot fix, the error that stops the consumer (the batch comes back after its
/// visibility timeout, to a consumer started once the cause is fixed).
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
) -> Result<Vec<Received>, ConsumeError> {
    let Settled {
        stored,
        poison,
        failed,
        unmailed,
        emailed,
        halt,
    } = handle_batch(stages, batch, Acknowledge::Delete, stop).await;
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
            Err(ConsumeError::Halted(halt))
        }
        None => Ok(failed),
    }
}

/// Waits `duration`, or less when asked to stop.
async fn pause(until: &Until, duration: Duration) {
    tokio::select! {
        () = tokio::time::sleep(duration) => {}
        () = until.stop.cancelled() => {}
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use async_trait::async_trait;

    use super::*;
    use crate::logging::tests::Captured;
    use crate::notify::outbox::Outbox;
    use crate::queue::local::LocalQueue;
    use crate::queue::{Queue, QueueCounts};
    use crate::redact::{Redactor, register};
    use crate::runtime::testing::{MAX_RECEIVE_COUNT, at_email, local_queue, outbox_files, stages};

    fn drain() -> Until {
        Until {
            drained: true,
            stop: CancellationToken::new(),
        }
    }

    /// The same moment as `lambda::handler`'s test: the digest is sent when every record is
    /// stored and before anything is deleted or released.
    #[tokio::test]
    async fn the_consumer_emails_the_stored_records_before_it_deletes_or_releases_any() {
        let dir = tempfile::tempdir().unwrap();
        let queue = local_queue(dir.path());
        let (stages, probe) = stages(dir.path(), queue.clone(), 3, 2).await;
        let counters = Counters::default();

        consume(&stages, &counters, &drain())
            .await
            .expect("drained");

        assert_eq!(probe.seen(), vec![at_email(3, 2)]);
        assert_eq!(outbox_files(dir.path()), 1);
        // Then: the stored ones deleted, the poison redelivered at once until dead-lettered.
        let left = queue.counts().await.unwrap();
        let dead_only = QueueCounts {
            visible: 0,
            in_flight: 0,
            dead: 2,
        };
        assert_eq!(left, dead_only);
        assert_eq!(Counters::get(&counters.stored), 3);
        assert_eq!(Counters::get(&counters.emails), 1);
        assert_eq!(
            Counters::get(&counters.poison),
            2 * u64::from(MAX_RECEIVE_COUNT)
        );
    }

    /// XORs 1 900 bytes in the middle of page `page` of the database at `path`.
    fn damage_page(path: &std::path::Path, page: usize) {
        let mut bytes = std::fs::read(path).unwrap();
        let start = (page - 1) * 4096 + 1000;
        for byte in &mut bytes[start..start + 1900] {
            *byte ^= 0x5a;
        }
        std::fs::write(path, bytes).unwrap();
    }

    /// Regression (issue 16): with a page of queue rows damaged, deleting stored messages
    /// failed ("database disk image is malformed"), the consumer logged it and went on, and the
    /// same records were stored and e-mailed again and again (30 000 `.eml` files in 60 s). The
    /// damage here shows only while the consumer runs (the start-up check is bypassed): it must
    /// stop, with at most one e-mail per batch it handled.
    #[tokio::test]
    async fn a_queue_that_cannot_record_progress_stops_the_consumer_instead_of_a_mail_storm() {
        const QUOTES: usize = 300;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lifecycle.db");
        drop(stages(dir.path(), local_queue(dir.path()), QUOTES, 0).await);
        let pages = {
            let c = rusqlite::Connection::open(&path).unwrap();
            c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)").unwrap();
            c.query_row("PRAGMA page_count", [], |row| row.get::<_, u32>(0))
                .unwrap()
        };
        damage_page(&path, pages as usize * 2 / 3);
        let check = crate::sqlite::quick_check(&crate::sqlite::open(&path).unwrap());
        assert!(!matches!(check, Ok(None)), "the damage hit no queue row");
        let queue = Arc::new(LocalQueue::open_unchecked(
            &path,
            "lifecycle",
            Duration::from_secs(3),
        ));
        let (mut stages, _) = stages(dir.path(), queue, 0, 0).await;
        stages.notifier = Some(Arc::new(Outbox::new(
            &dir.path().join("outbox"),
            "lifecycle",
        )));
        let counters = Counters::default();

        let consumed = tokio::time::timeout(
            Duration::from_secs(20),
            consume(&stages, &counters, &drain()),
        )
        .await
        .expect("the consumer stops within 20 s");

        let Err(ConsumeError::Halted(halt)) = consumed else {
            panic!("not halted: {consumed:?}");
        };
        let message = halt.to_string();
        assert!(
            message.contains(&format!("the state file {} is damaged", path.display())),
            "{message}"
        );
        assert!(message.contains(".recover"), "{message}");
        let emails = outbox_files(dir.path());
        assert!(
            emails <= QUOTES / 10 && emails as u64 == Counters::get(&counters.emails),
            "{emails} e-mails for {QUOTES} quotes in batches of 10"
        );
    }

    /// The embedded queue, except that deleting, releasing and extending fail with an error
    /// quoting `secret`.
    struct FailingAcks {
        inner: Arc<dyn Queue>,
        secret: &'static str,
    }

    impl FailingAcks {
        fn error(&self) -> QueueError {
            QueueError::Aws(format!("access denied for key {}", self.secret))
        }
    }

    #[async_trait]
    impl Queue for FailingAcks {
        async fn send_batch(&self, bodies: &[String]) -> Result<(), QueueError> {
            self.inner.send_batch(bodies).await
        }
        async fn receive_until(
            &self,
            max: usize,
            wait: Duration,
            stop: &CancellationToken,
        ) -> Result<Vec<Received>, QueueError> {
            self.inner.receive_until(max, wait, stop).await
        }
        async fn delete_batch(&self, _: &[&str]) -> Result<(), QueueError> {
            Err(self.error())
        }
        async fn release(&self, _: &[(&str, &str)]) -> Result<(), QueueError> {
            Err(self.error())
        }
        async fn extend_visibility(&self, _: &[&str], _: Duration) -> Result<(), QueueError> {
            Err(self.error())
        }
        async fn counts(&self) -> Result<QueueCounts, QueueError> {
            self.inner.counts().await
        }
    }

    /// The consumer's queue-error logs (deleting what was stored, releasing a batch the store
    /// refused) quote the queue's error as it is; the log writer hides the registered secret.
    #[tokio::test]
    async fn a_queue_error_logged_by_the_consumer_shows_no_secret() {
        const SECRET: &str = "consumer-queue-secret-8d7c6b";
        register(&Redactor::new([(
            SECRET.to_owned(),
            "${CONSUMER_TEST_KEY}".to_owned(),
        )]));
        let dir = tempfile::tempdir().unwrap();
        let queue = Arc::new(FailingAcks {
            inner: local_queue(dir.path()),
            secret: SECRET,
        });
        let (stages, _) = stages(dir.path(), queue, 2, 0).await;
        let counters = Counters::default();
        let captured = Captured::default();
        let _log = tracing::subscriber::set_default(captured.subscriber());

        let batch = stages.queue.receive(10, Duration::ZERO).await.unwrap();
        let failed = settle(&stages, &counters, batch.clone(), &CancellationToken::new())
            .await
            .unwrap();
        assert!(failed.is_empty());
        let gave_up = retry_failed(&stages, &counters, &drain(), batch).await;
        assert!(matches!(gave_up, Err(ConsumeError::Store { records: 2 })));

        let log = captured.text();
        assert!(!log.contains(SECRET), "{log}");
        for site in [
            "stored records could not be deleted from the queue",
            "could not release the unstored records",
        ] {
            let line = log
                .lines()
                .find(|line| line.contains(site))
                .unwrap_or_else(|| panic!("no `{site}` in\n{log}"));
            assert!(
                line.contains("access denied for key ${CONSUMER_TEST_KEY}"),
                "{line}"
            );
        }
    }
}

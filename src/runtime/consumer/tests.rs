//! Tests of `consumer`.
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
    let (failed, mut done) = settle(&stages, &counters, batch.clone(), &CancellationToken::new())
        .await
        .unwrap();
    assert!(failed.is_empty());
    assert_eq!(done.len(), 2, "stored, to be deleted by the caller");
    delete_done(&stages, &mut done).await.unwrap();
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

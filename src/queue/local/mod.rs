//! The embedded queue: a table in the pipeline's SQLite file with the SQS semantics stockrun
//! relies on — a visibility timeout per delivery, a receive count, and a dead-letter table that
//! takes a message once it has been delivered `max_receive_count` times without being deleted.
//! Durable: a message stays in the file until it is deleted, across crashes and restarts, and
//! several processes (a poller, consumers) can share the file.

mod sql;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::Connection;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::{MAX_BATCH, Queue, QueueCounts, QueueError, Received, check_message_sizes};
use crate::sqlite::{self, Shared, now_millis};
use crate::sqlite_error::SqliteError;

/// How often a waiting receive looks at the file for messages sent by another process (messages
/// sent by this process wake it at once).
const POLL_INTERVAL: Duration = Duration::from_millis(200);

pub use super::DeadLetter;

/// The SQLite queue of one pipeline.
pub struct LocalQueue {
    connection: Shared,
    path: PathBuf,
    name: String,
    visibility_timeout: Duration,
    max_receive_count: u32,
    /// False for a read-only database the queue never wrote to: it holds no message.
    has_tables: bool,
    sent: Arc<Notify>,
}

impl LocalQueue {
    /// Opens (creating when missing) the queue `name` in the database at `path`, after checking
    /// the file's structure (`PRAGMA quick_check`): every command that writes opens the queue
    /// first, so a damaged file stops it here, with how to recover, before anything is stored
    /// or e-mailed.
    pub fn open(
        path: &Path,
        name: &str,
        visibility_timeout: Duration,
        max_receive_count: u32,
    ) -> Result<LocalQueue, QueueError> {
        let error = |source| sqlite_error(path, &source);
        let connection = sqlite::open(path).map_err(error)?;
        if let Some(problem) = sqlite::quick_check(&connection).map_err(error)? {
            return Err(QueueError::Sqlite(SqliteError::damaged(path, &problem)));
        }
        sqlite::create_schema(&connection, sql::SCHEMA).map_err(error)?;
        Ok(LocalQueue::with_connection(
            connection,
            path,
            name,
            visibility_timeout,
            max_receive_count,
            true,
        ))
    }

    /// Opens the queue without the start-up check, so a test can see what the consumer does
    /// when damage shows only while it runs.
    #[cfg(test)]
    pub(crate) fn open_unchecked(path: &Path, name: &str, visibility: Duration) -> LocalQueue {
        let connection = sqlite::open(path).expect("open");
        LocalQueue::with_connection(connection, path, name, visibility, 2, true)
    }

    /// Opens the queue `name` in an existing database read-only (for reading it: `show --dead`).
    pub fn open_existing(path: &Path, name: &str) -> Result<LocalQueue, QueueError> {
        let error = |source| sqlite_error(path, &source);
        let connection = sqlite::open_read_only(path).map_err(error)?;
        let has_tables = sqlite::tables_exist(&connection, &["queue_messages", "dead_letters"])
            .map_err(error)?;
        Ok(LocalQueue::with_connection(
            connection,
            path,
            name,
            Duration::ZERO,
            1,
            has_tables,
        ))
    }

    fn with_connection(
        connection: Connection,
        path: &Path,
        name: &str,
        visibility_timeout: Duration,
        max_receive_count: u32,
        has_tables: bool,
    ) -> LocalQueue {
        LocalQueue {
            connection: Arc::new(Mutex::new(connection)),
            path: path.to_owned(),
            name: name.to_owned(),
            visibility_timeout,
            max_receive_count: max_receive_count.max(1),
            has_tables,
            sent: Arc::new(Notify::new()),
        }
    }

    /// The messages in the dead-letter table, oldest first.
    pub async fn dead_letters(&self) -> Result<Vec<DeadLetter>, QueueError> {
        if !self.has_tables {
            return Ok(Vec::new());
        }
        let queue = self.name.clone();
        self.run(move |c| sql::dead_letters(c, &queue)).await
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, QueueError> {
        match sqlite::with_connection(&self.connection, work).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(source)) => Err(sqlite_error(&self.path, &source)),
            Err(task) => Err(QueueError::Task(task.to_string())),
        }
    }

    /// How long a lease hides a message, in milliseconds.
    fn lease_millis(&self) -> i64 {
        i64::try_from(self.visibility_timeout.as_millis()).unwrap_or(i64::MAX)
    }

    /// Leases up to `max` messages now, or none.
    async fn receive_now(&self, max: usize) -> Result<Vec<Received>, QueueError> {
        let queue = self.name.clone();
        let visibility = self.lease_millis();
        let max_receive_count = self.max_receive_count;
        self.run(move |c| {
            if !sql::any_visible(c, &queue, now_millis())? {
                return Ok(Vec::new());
            }
            sql::lease(c, &queue, max, visibility, max_receive_count, now_millis)
        })
        .await
    }
}

fn sqlite_error(path: &Path, source: &rusqlite::Error) -> QueueError {
    QueueError::Sqlite(SqliteError::new(path, source))
}

/// A delivery's handle: the message id and which delivery it is, so a handle from an earlier
/// delivery cannot delete a message that has since been handed to another consumer.
fn receipt(id: i64, receive_count: u32) -> String {
    format!("{id}.{receive_count}")
}

fn parse_receipt(receipt: &str) -> Option<sql::Delivery> {
    let (id, count) = receipt.split_once('.')?;
    Some((id.parse().ok()?, count.parse().ok()?))
}

#[async_trait]
impl Queue for LocalQueue {
    async fn send_batch(&self, bodies: &[String]) -> Result<(), QueueError> {
        check_message_sizes(bodies)?;
        if bodies.is_empty() {
            return Ok(());
        }
        let queue = self.name.clone();
        let bodies = bodies.to_vec();
        self.run(move |c| sql::send(c, &queue, &bodies, now_millis()))
            .await?;
        self.sent.notify_waiters();
        Ok(())
    }

    async fn receive_until(
        &self,
        max: usize,
        wait: Duration,
        stop: &CancellationToken,
    ) -> Result<Vec<Received>, QueueError> {
        let max = max.clamp(1, MAX_BATCH);
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let sent = self.sent.notified();
            // Never raced against the stop: a lease, once taken, is returned.
            let received = self.receive_now(max).await?;
            let now = tokio::time::Instant::now();
            if !received.is_empty() || now >= deadline || stop.is_cancelled() {
                return Ok(received);
            }
            let next_look = (now + POLL_INTERVAL).min(deadline);
            tokio::select! {
                () = sent => {}
                () = tokio::time::sleep_until(next_look) => {}
                () = stop.cancelled() => {}
            }
        }
    }

    async fn delete_batch(&self, receipts: &[&str]) -> Result<(), QueueError> {
        let deliveries: Vec<sql::Delivery> =
            receipts.iter().filter_map(|r| parse_receipt(r)).collect();
        if deliveries.is_empty() {
            return Ok(());
        }
        self.run(move |c| sql::delete(c, &deliveries)).await
    }

    async fn delete_and_receive(
        &self,
        done: &[&str],
        max: usize,
        wait: Duration,
        stop: &CancellationToken,
    ) -> Result<Vec<Received>, QueueError> {
        let deliveries: Vec<sql::Delivery> = done.iter().filter_map(|r| parse_receipt(r)).collect();
        if deliveries.is_empty() {
            return self.receive_until(max, wait, stop).await;
        }
        let max = max.clamp(1, MAX_BATCH);
        let queue = self.name.clone();
        let visibility = self.lease_millis();
        let max_receive_count = self.max_receive_count;
        let received = self
            .run(move |c| {
                sql::delete_and_lease(
                    c,
                    &deliveries,
                    &queue,
                    max,
                    visibility,
                    max_receive_count,
                    now_millis,
                )
            })
            .await?;
        if !received.is_empty() || wait.is_zero() || stop.is_cancelled() {
            return Ok(received);
        }
        self.receive_until(max, wait, stop).await
    }

    async fn release(&self, failed: &[(&str, &str)]) -> Result<(), QueueError> {
        let failed: Vec<(i64, u32, String)> = failed
            .iter()
            .filter_map(|(r, reason)| {
                let (id, count) = parse_receipt(r)?;
                Some((id, count, (*reason).to_owned()))
            })
            .collect();
        if failed.is_empty() {
            return Ok(());
        }
        self.run(move |c| sql::release(c, &failed, now_millis()))
            .await?;
        self.sent.notify_waiters();
        Ok(())
    }

    async fn extend_visibility(&self, receipts: &[&str], by: Duration) -> Result<(), QueueError> {
        let deliveries: Vec<sql::Delivery> =
            receipts.iter().filter_map(|r| parse_receipt(r)).collect();
        if deliveries.is_empty() {
            return Ok(());
        }
        let by = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.run(move |c| sql::hide(c, &deliveries, now_millis().saturating_add(by)))
            .await
    }

    async fn counts(&self) -> Result<QueueCounts, QueueError> {
        let queue = self.name.clone();
        self.run(move |c| sql::counts(c, &queue, now_millis()))
            .await
    }
}

#[cfg(test)]
mod tests;

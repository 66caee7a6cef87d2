//! The embedded queue: a table in the pipeline's SQLite file with the SQS semantics stockrun
//! relies on — a visibility timeout per delivery, a receive count, and a dead-letter table that
//! takes a message once it has been delivered `max_receive_count` times without being deleted.
//! Durable: a message stays in the file until it is deleted, across crashes and restarts.
//!
//! Two things keep a drain from paying three transactions per batch, without weakening that:
//! a receive leases up to [`PREFETCH`] messages at once (each with its own visibility timeout,
//! handed out from memory; released on drop), and deletes are written with the next receive
//! (or when counting, releasing or dropping the queue). A crash before a delete is written means
//! the stored record is delivered again and overwrites itself: at least once, never lost.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, params};
use tokio::sync::Notify;

use super::{MAX_BATCH, Queue, QueueCounts, QueueError, Received};
use crate::sqlite::{self, Shared, now_millis};

mod deferred;

use deferred::{DeferredDeletes, delete_rows};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS queue_messages (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    queue         TEXT    NOT NULL,
    body          TEXT    NOT NULL,
    sent_at       INTEGER NOT NULL,
    visible_at    INTEGER NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 0,
    last_error    TEXT
);
CREATE TABLE IF NOT EXISTS dead_letters (
    id            INTEGER PRIMARY KEY,
    queue         TEXT    NOT NULL,
    body          TEXT    NOT NULL,
    sent_at       INTEGER NOT NULL,
    receive_count INTEGER NOT NULL,
    last_error    TEXT,
    dead_at       INTEGER NOT NULL
);
";

/// How often a waiting receive looks at the file for messages sent by another process (messages
/// sent by this process wake it at once).
const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// How many messages one receive leases: enough to feed several batches per transaction.
pub const PREFETCH: usize = 50;

/// Deletes waiting to be written are written at once beyond this many.
const DELETE_FLUSH: usize = 200;

/// Leased messages not yet handed out, with the time (ms) their lease runs out.
type Leased = VecDeque<(Received, i64)>;

/// A message that was dead-lettered, for `stockrun show --dead` and tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadLetter {
    /// The message id.
    pub id: String,
    /// The message body.
    pub body: String,
    /// How many times it was delivered.
    pub receive_count: u32,
    /// The last reason it could not be processed, when one was given.
    pub last_error: Option<String>,
}

/// The SQLite queue of one pipeline.
pub struct LocalQueue {
    connection: Shared,
    path: PathBuf,
    name: String,
    visibility_timeout: Duration,
    max_receive_count: u32,
    sent: Arc<Notify>,
    leased: Mutex<Leased>,
    deletes: DeferredDeletes,
}

impl LocalQueue {
    /// Opens (creating when missing) the queue `name` in the database at `path`.
    pub fn open(
        path: &Path,
        name: &str,
        visibility_timeout: Duration,
        max_receive_count: u32,
    ) -> Result<LocalQueue, QueueError> {
        let error = |source| QueueError::Sqlite {
            path: path.display().to_string(),
            source,
        };
        let connection = sqlite::open(path).map_err(error)?;
        connection.execute_batch(SCHEMA).map_err(error)?;
        Ok(LocalQueue {
            connection: Arc::new(Mutex::new(connection)),
            path: path.to_owned(),
            name: name.to_owned(),
            visibility_timeout,
            max_receive_count: max_receive_count.max(1),
            sent: Arc::new(Notify::new()),
            leased: Mutex::new(Leased::new()),
            deletes: DeferredDeletes::default(),
        })
    }

    /// The messages in the dead-letter table, oldest first.
    pub async fn dead_letters(&self) -> Result<Vec<DeadLetter>, QueueError> {
        let queue = self.name.clone();
        self.run(move |c| {
            let mut statement = c.prepare_cached(
                "SELECT id, body, receive_count, last_error FROM dead_letters
                 WHERE queue = ?1 ORDER BY id",
            )?;
            let rows = statement.query_map([queue], |row| {
                Ok(DeadLetter {
                    id: row.get::<_, i64>(0)?.to_string(),
                    body: row.get(1)?,
                    receive_count: row.get(2)?,
                    last_error: row.get(3)?,
                })
            })?;
            rows.collect()
        })
        .await
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, QueueError> {
        sqlite::with_connection(&self.connection, work)
            .await
            .map_err(|e| QueueError::Task(e.to_string()))?
            .map_err(|source| QueueError::Sqlite {
                path: self.path.display().to_string(),
                source,
            })
    }

    fn leased(&self) -> MutexGuard<'_, Leased> {
        self.leased.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Up to `max` leased messages whose lease has not run out, from memory.
    fn take_leased(&self, max: usize) -> Vec<Received> {
        let now = now_millis();
        let mut leased = self.leased();
        let mut taken = Vec::with_capacity(max);
        while taken.len() < max {
            let Some((message, lease_ends)) = leased.pop_front() else {
                break;
            };
            // A lease that ran out may already be someone else's delivery.
            if lease_ends > now {
                taken.push(message);
            }
        }
        taken
    }

    /// Writes the deletes waiting in memory.
    async fn flush_deletes(&self) -> Result<(), QueueError> {
        let deletes = self.deletes.take();
        if deletes.is_empty() {
            return Ok(());
        }
        let kept = deletes.clone();
        let result = self
            .run(move |c| {
                let tx = c.transaction()?;
                delete_rows(&tx, &deletes)?;
                tx.commit()
            })
            .await;
        if result.is_err() {
            self.deletes.restore(kept);
        }
        result
    }

    /// Leases up to `max` messages (writing the waiting deletes in the same transaction).
    async fn receive_now(&self, max: usize) -> Result<Vec<Received>, QueueError> {
        let deletes = self.deletes.take();
        let kept = deletes.clone();
        let result = self.lease(max, deletes).await;
        if result.is_err() {
            self.deletes.restore(kept);
        }
        result
    }

    async fn lease(
        &self,
        max: usize,
        deletes: Vec<(i64, u32)>,
    ) -> Result<Vec<Received>, QueueError> {
        let queue = self.name.clone();
        let visibility = i64::try_from(self.visibility_timeout.as_millis()).unwrap_or(i64::MAX);
        let max_receive_count = self.max_receive_count;
        let max = max.max(1);
        self.run(move |c| {
            let now = now_millis();
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            delete_rows(&tx, &deletes)?;
            let mut received: Vec<Received> = Vec::with_capacity(max);
            {
                // Oldest first, in id order: each receive reads the rows it returns and skips
                // only those in flight (a scan of every visible row per receive, through an index
                // on visibility, made draining a backlog quadratic).
                let mut candidates = tx.prepare_cached(
                    "SELECT id, body, receive_count FROM queue_messages
                     WHERE queue = ?1 AND visible_at <= ?2 AND id > ?4 ORDER BY id LIMIT ?3",
                )?;
                let mut deliver = tx.prepare_cached(
                    "UPDATE queue_messages SET receive_count = ?2, visible_at = ?3 WHERE id = ?1",
                )?;
                let mut bury = tx.prepare_cached(
                    "INSERT INTO dead_letters (id, queue, body, sent_at, receive_count, last_error, dead_at)
                     SELECT id, queue, body, sent_at, receive_count, last_error, ?2
                     FROM queue_messages WHERE id = ?1",
                )?;
                let mut remove = tx.prepare_cached("DELETE FROM queue_messages WHERE id = ?1")?;
                let mut after_id = 0_i64;
                loop {
                    let wanted = i64::try_from(max - received.len()).unwrap_or(1);
                    let rows: Vec<(i64, String, u32)> = candidates
                        .query_map(params![queue, now, wanted, after_id], |row| {
                            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
                        })?
                        .collect::<rusqlite::Result<_>>()?;
                    if rows.is_empty() {
                        break;
                    }
                    for (id, body, count) in rows {
                        after_id = id;
                        // SQS moves a message to the dead-letter queue when a receive finds it
                        // has already been delivered `maxReceiveCount` times.
                        if count >= max_receive_count {
                            bury.execute(params![id, now])?;
                            remove.execute(params![id])?;
                            continue;
                        }
                        let receive_count = count + 1;
                        deliver.execute(params![id, receive_count, now.saturating_add(visibility)])?;
                        received.push(Received {
                            id: id.to_string(),
                            receipt: receipt(id, receive_count),
                            body,
                            receive_count,
                        });
                    }
                    if received.len() >= max {
                        break;
                    }
                }
            }
            tx.commit()?;
            Ok(received)
        })
        .await
    }
}

impl Drop for LocalQueue {
    /// Writes the waiting deletes and hands leased, unprocessed messages back at once, so a
    /// restart does not wait out their visibility timeout.
    fn drop(&mut self) {
        let leased = std::mem::take(&mut *self.leased());
        let deletes = self.deletes.take();
        if deletes.is_empty() && leased.is_empty() {
            return;
        }
        let mut connection = self.connection.lock().unwrap_or_else(|p| p.into_inner());
        let result = (|| {
            let tx = connection.transaction()?;
            delete_rows(&tx, &deletes)?;
            {
                let mut release = tx.prepare_cached(
                    "UPDATE queue_messages SET visible_at = ?3 WHERE id = ?1 AND receive_count = ?2",
                )?;
                for (message, _) in &leased {
                    if let Some((id, count)) = parse_receipt(&message.receipt) {
                        release.execute(params![id, count, now_millis()])?;
                    }
                }
            }
            tx.commit()
        })();
        if let Err(error) = result {
            tracing::warn!(%error, "could not write the queue's last deletes; those records are delivered again");
        }
    }
}

/// A delivery's handle: the message id and which delivery it is, so a handle from an earlier
/// delivery cannot delete a message that has since been handed to another consumer.
fn receipt(id: i64, receive_count: u32) -> String {
    format!("{id}.{receive_count}")
}

fn parse_receipt(receipt: &str) -> Option<(i64, u32)> {
    let (id, count) = receipt.split_once('.')?;
    Some((id.parse().ok()?, count.parse().ok()?))
}

#[async_trait]
impl Queue for LocalQueue {
    async fn send_batch(&self, bodies: &[String]) -> Result<(), QueueError> {
        if bodies.is_empty() {
            return Ok(());
        }
        let queue = self.name.clone();
        let bodies = bodies.to_vec();
        self.run(move |c| {
            let now = now_millis();
            let tx = c.transaction()?;
            {
                let mut insert = tx.prepare_cached(
                    "INSERT INTO queue_messages (queue, body, sent_at, visible_at) VALUES (?1, ?2, ?3, ?3)",
                )?;
                for body in &bodies {
                    insert.execute(params![queue, body, now])?;
                }
            }
            tx.commit()
        })
        .await?;
        self.sent.notify_waiters();
        Ok(())
    }

    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Received>, QueueError> {
        let max = max.clamp(1, MAX_BATCH);
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let leased = self.take_leased(max);
            if !leased.is_empty() {
                return Ok(leased);
            }
            let sent = self.sent.notified();
            let received = self.receive_now(PREFETCH).await?;
            if !received.is_empty() {
                let lease_ends = now_millis().saturating_add(
                    i64::try_from(self.visibility_timeout.as_millis()).unwrap_or(i64::MAX),
                );
                let mut received = received.into_iter();
                let now: Vec<Received> = received.by_ref().take(max).collect();
                self.leased().extend(received.map(|m| (m, lease_ends)));
                return Ok(now);
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Ok(Vec::new());
            }
            let next_look = (now + POLL_INTERVAL).min(deadline);
            tokio::select! {
                () = sent => {}
                () = tokio::time::sleep_until(next_look) => {}
            }
        }
    }

    async fn delete_batch(&self, receipts: &[&str]) -> Result<(), QueueError> {
        let waiting = self
            .deletes
            .add(receipts.iter().filter_map(|r| parse_receipt(r)));
        if waiting >= DELETE_FLUSH {
            self.flush_deletes().await?;
        }
        Ok(())
    }

    async fn release(&self, failed: &[(&str, &str)]) -> Result<(), QueueError> {
        let handles: Vec<(i64, u32, String)> = failed
            .iter()
            .filter_map(|(r, reason)| {
                let (id, count) = parse_receipt(r)?;
                Some((id, count, (*reason).to_owned()))
            })
            .collect();
        if handles.is_empty() {
            return Ok(());
        }
        self.flush_deletes().await?;
        self.run(move |c| {
            let now = now_millis();
            let tx = c.transaction()?;
            {
                let mut release = tx.prepare_cached(
                    "UPDATE queue_messages SET visible_at = ?3, last_error = ?4
                     WHERE id = ?1 AND receive_count = ?2",
                )?;
                for (id, count, reason) in &handles {
                    release.execute(params![id, count, now, reason])?;
                }
            }
            tx.commit()
        })
        .await?;
        self.sent.notify_waiters();
        Ok(())
    }

    async fn counts(&self) -> Result<QueueCounts, QueueError> {
        self.flush_deletes().await?;
        let queue = self.name.clone();
        self.run(move |c| {
            let now = now_millis();
            c.query_row(
                "SELECT
                    (SELECT count(*) FROM queue_messages WHERE queue = ?1 AND visible_at <= ?2),
                    (SELECT count(*) FROM queue_messages WHERE queue = ?1 AND visible_at > ?2),
                    (SELECT count(*) FROM dead_letters WHERE queue = ?1)",
                params![queue, now],
                |row| {
                    Ok(QueueCounts {
                        visible: row.get::<_, i64>(0)?.unsigned_abs(),
                        in_flight: row.get::<_, i64>(1)?.unsigned_abs(),
                        dead: row.get::<_, i64>(2)?.unsigned_abs(),
                    })
                },
            )
        })
        .await
    }
}

#[cfg(test)]
mod tests;

//! The embedded queue: a table in the pipeline's SQLite file with the SQS semantics stockrun
//! relies on — a visibility timeout per delivery, a receive count, and a dead-letter table that
//! takes a message once it has been delivered `max_receive_count` times without being deleted.
//! Durable: a message stays in the file until it is deleted, across crashes and restarts.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, params};
use tokio::sync::Notify;

use super::{MAX_BATCH, Queue, QueueCounts, QueueError, Received};
use crate::sqlite::{self, Shared, now_millis};

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
CREATE INDEX IF NOT EXISTS queue_messages_visible ON queue_messages (queue, visible_at, id);
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

    async fn receive_now(&self, max: usize) -> Result<Vec<Received>, QueueError> {
        let queue = self.name.clone();
        let visibility = i64::try_from(self.visibility_timeout.as_millis()).unwrap_or(i64::MAX);
        let max_receive_count = self.max_receive_count;
        let max = max.clamp(1, MAX_BATCH) as i64;
        self.run(move |c| {
            let now = now_millis();
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            // SQS moves a message to the dead-letter queue when a receive finds it has already
            // been delivered `maxReceiveCount` times.
            let dead = tx
                .prepare_cached(
                    "INSERT INTO dead_letters (id, queue, body, sent_at, receive_count, last_error, dead_at)
                     SELECT id, queue, body, sent_at, receive_count, last_error, ?3 FROM queue_messages
                     WHERE queue = ?1 AND visible_at <= ?3 AND receive_count >= ?2",
                )?
                .execute(params![queue, max_receive_count, now])?;
            if dead > 0 {
                tx.prepare_cached(
                    "DELETE FROM queue_messages
                     WHERE queue = ?1 AND visible_at <= ?3 AND receive_count >= ?2",
                )?
                .execute(params![queue, max_receive_count, now])?;
            }
            let mut received = {
                let mut statement = tx.prepare_cached(
                    "UPDATE queue_messages
                     SET receive_count = receive_count + 1, visible_at = ?2 + ?3
                     WHERE id IN (SELECT id FROM queue_messages
                                  WHERE queue = ?1 AND visible_at <= ?2 ORDER BY id LIMIT ?4)
                     RETURNING id, body, receive_count",
                )?;
                let rows = statement.query_map(params![queue, now, visibility, max], |row| {
                    let id: i64 = row.get(0)?;
                    let receive_count: u32 = row.get(2)?;
                    Ok(Received {
                        id: id.to_string(),
                        receipt: receipt(id, receive_count),
                        body: row.get(1)?,
                        receive_count,
                    })
                })?;
                rows.collect::<rusqlite::Result<Vec<_>>>()?
            };
            tx.commit()?;
            received.sort_by_key(|r| r.id.parse::<i64>().unwrap_or(i64::MAX));
            Ok(received)
        })
        .await
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
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let sent = self.sent.notified();
            let received = self.receive_now(max).await?;
            let now = tokio::time::Instant::now();
            if !received.is_empty() || now >= deadline {
                return Ok(received);
            }
            let next_look = (now + POLL_INTERVAL).min(deadline);
            tokio::select! {
                () = sent => {}
                () = tokio::time::sleep_until(next_look) => {}
            }
        }
    }

    async fn delete_batch(&self, receipts: &[&str]) -> Result<(), QueueError> {
        let handles: Vec<(i64, u32)> = receipts.iter().filter_map(|r| parse_receipt(r)).collect();
        if handles.is_empty() {
            return Ok(());
        }
        self.run(move |c| {
            let tx = c.transaction()?;
            {
                let mut delete = tx.prepare_cached(
                    "DELETE FROM queue_messages WHERE id = ?1 AND receive_count = ?2",
                )?;
                for (id, count) in &handles {
                    delete.execute(params![id, count])?;
                }
            }
            tx.commit()
        })
        .await
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
mod tests {
    use super::*;

    fn queue(dir: &tempfile::TempDir, visibility: Duration) -> LocalQueue {
        LocalQueue::open(&dir.path().join("q.db"), "q", visibility, 2).expect("open")
    }

    fn bodies(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("{{\"n\":{i}}}")).collect()
    }

    #[tokio::test]
    async fn send_receive_delete() {
        let dir = tempfile::tempdir().unwrap();
        let q = queue(&dir, Duration::from_secs(30));
        q.send_batch(&bodies(3)).await.unwrap();
        let got = q.receive(10, Duration::ZERO).await.unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].body, "{\"n\":0}");
        assert!(got.iter().all(|r| r.receive_count == 1));
        let counts = q.counts().await.unwrap();
        assert_eq!((counts.visible, counts.in_flight), (0, 3));
        let receipts: Vec<&str> = got.iter().map(|r| r.receipt.as_str()).collect();
        q.delete_batch(&receipts).await.unwrap();
        assert!(q.counts().await.unwrap().is_drained());
    }

    #[tokio::test]
    async fn receive_takes_at_most_max() {
        let dir = tempfile::tempdir().unwrap();
        let q = queue(&dir, Duration::from_secs(30));
        q.send_batch(&bodies(10)).await.unwrap();
        q.send_batch(&bodies(5)).await.unwrap();
        assert_eq!(q.receive(4, Duration::ZERO).await.unwrap().len(), 4);
        assert_eq!(q.receive(10, Duration::ZERO).await.unwrap().len(), 10);
        assert_eq!(q.receive(10, Duration::ZERO).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn released_messages_are_dead_lettered_after_max_receive_count() {
        let dir = tempfile::tempdir().unwrap();
        let q = queue(&dir, Duration::from_secs(30));
        q.send_batch(&bodies(1)).await.unwrap();
        for delivery in 1..=2 {
            let got = q.receive(10, Duration::ZERO).await.unwrap();
            assert_eq!(got.len(), 1);
            assert_eq!(got[0].receive_count, delivery);
            q.release(&[(got[0].receipt.as_str(), "price missing")])
                .await
                .unwrap();
        }
        assert!(q.receive(10, Duration::ZERO).await.unwrap().is_empty());
        let dead = q.dead_letters().await.unwrap();
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].last_error.as_deref(), Some("price missing"));
        assert_eq!(
            q.counts().await.unwrap(),
            QueueCounts {
                visible: 0,
                in_flight: 0,
                dead: 1
            }
        );
    }

    #[tokio::test]
    async fn a_stale_receipt_deletes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let q = queue(&dir, Duration::ZERO);
        q.send_batch(&bodies(1)).await.unwrap();
        let first = q.receive(1, Duration::ZERO).await.unwrap();
        let second = q.receive(1, Duration::ZERO).await.unwrap();
        assert_eq!(second[0].receive_count, 2);
        q.delete_batch(&[first[0].receipt.as_str()]).await.unwrap();
        assert_eq!(q.counts().await.unwrap().visible, 1);
        q.delete_batch(&[second[0].receipt.as_str()]).await.unwrap();
        assert!(q.counts().await.unwrap().is_drained());
    }

    #[tokio::test]
    async fn messages_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        queue(&dir, Duration::from_secs(30))
            .send_batch(&bodies(2))
            .await
            .unwrap();
        let reopened = queue(&dir, Duration::from_secs(30));
        assert_eq!(reopened.receive(10, Duration::ZERO).await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn a_waiting_receive_wakes_when_a_message_is_sent() {
        let dir = tempfile::tempdir().unwrap();
        let q = Arc::new(queue(&dir, Duration::from_secs(30)));
        let waiter = tokio::spawn({
            let q = Arc::clone(&q);
            async move { q.receive(10, Duration::from_secs(20)).await }
        });
        q.send_batch(&bodies(1)).await.unwrap();
        let got = tokio::time::timeout(Duration::from_secs(10), waiter)
            .await
            .expect("the receive returns before its 20 s wait")
            .unwrap()
            .unwrap();
        assert_eq!(got.len(), 1);
    }
}

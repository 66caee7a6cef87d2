//! The local queue's SQL, each function one transaction's worth of work on a connection.

use rusqlite::{Connection, Transaction, params};

use super::{DeadLetter, receipt};
use crate::queue::{QueueCounts, Received};

/// The tables: messages (with their visibility and receive count) and dead letters.
pub const SCHEMA: &str = "
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

/// A delivery: `(message id, receive count)`.
pub type Delivery = (i64, u32);

/// Inserts messages, visible at once.
pub fn send(c: &mut Connection, queue: &str, bodies: &[String], now: i64) -> rusqlite::Result<()> {
    let tx = c.transaction()?;
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO queue_messages (queue, body, sent_at, visible_at) VALUES (?1, ?2, ?3, ?3)",
        )?;
        for body in bodies {
            insert.execute(params![queue, body, now])?;
        }
    }
    tx.commit()
}

/// Whether any message is visible, read without taking the write lock (an idle consumer must
/// not block the poller every time it looks).
pub fn any_visible(c: &Connection, queue: &str, now: i64) -> rusqlite::Result<bool> {
    c.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM queue_messages WHERE queue = ?1 AND visible_at <= ?2)",
    )?
    .query_row(params![queue, now], |row| row.get(0))
}

/// Leases up to `max` visible messages for `visibility_ms`, oldest first; messages already
/// delivered `max_receive_count` times move to the dead-letter table instead (as SQS does on
/// receive). Walks ids from the oldest, so it reads only the rows it returns and skips those in
/// flight.
pub fn lease(
    c: &mut Connection,
    queue: &str,
    max: usize,
    visibility_ms: i64,
    max_receive_count: u32,
    now: impl Fn() -> i64,
) -> rusqlite::Result<Vec<Received>> {
    delete_and_lease(c, &[], queue, max, visibility_ms, max_receive_count, now)
}

/// Deletes deliveries, then leases as [`lease`] does, in one transaction: both or neither.
pub fn delete_and_lease(
    c: &mut Connection,
    deliveries: &[Delivery],
    queue: &str,
    max: usize,
    visibility_ms: i64,
    max_receive_count: u32,
    now: impl Fn() -> i64,
) -> rusqlite::Result<Vec<Received>> {
    let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    delete_in(&tx, deliveries)?;
    // The clock is read once the write lock is held, so a wait for it does not shorten leases.
    let received = lease_in(&tx, queue, max, visibility_ms, max_receive_count, now())?;
    tx.commit()?;
    Ok(received)
}

/// [`lease`]'s work inside a transaction holding the write lock, at `now`.
fn lease_in(
    tx: &Transaction<'_>,
    queue: &str,
    max: usize,
    visibility_ms: i64,
    max_receive_count: u32,
    now: i64,
) -> rusqlite::Result<Vec<Received>> {
    let mut received = Vec::with_capacity(max);
    {
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
        while received.len() < max {
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
                if count >= max_receive_count {
                    bury.execute(params![id, now])?;
                    remove.execute(params![id])?;
                    continue;
                }
                let receive_count = count + 1;
                deliver.execute(params![
                    id,
                    receive_count,
                    now.saturating_add(visibility_ms)
                ])?;
                received.push(Received {
                    id: id.to_string(),
                    receipt: receipt(id, receive_count),
                    body,
                    receive_count,
                });
            }
        }
    }
    Ok(received)
}

/// Deletes deliveries (a stale delivery, since handed to someone else, deletes nothing).
pub fn delete(c: &mut Connection, deliveries: &[Delivery]) -> rusqlite::Result<()> {
    let tx = c.transaction()?;
    delete_in(&tx, deliveries)?;
    tx.commit()
}

/// [`delete`]'s work inside a transaction.
fn delete_in(tx: &Transaction<'_>, deliveries: &[Delivery]) -> rusqlite::Result<()> {
    let mut delete =
        tx.prepare_cached("DELETE FROM queue_messages WHERE id = ?1 AND receive_count = ?2")?;
    for (id, count) in deliveries {
        delete.execute(params![id, count])?;
    }
    Ok(())
}

/// Makes deliveries visible at once, keeping why they failed.
pub fn release(
    c: &mut Connection,
    failed: &[(i64, u32, String)],
    now: i64,
) -> rusqlite::Result<()> {
    let tx = c.transaction()?;
    {
        let mut release = tx.prepare_cached(
            "UPDATE queue_messages SET visible_at = ?3, last_error = ?4
             WHERE id = ?1 AND receive_count = ?2",
        )?;
        for (id, count, reason) in failed {
            release.execute(params![id, count, now, reason])?;
        }
    }
    tx.commit()
}

/// Hides deliveries until `until` (a stale delivery, since handed to someone else, is left alone).
pub fn hide(c: &mut Connection, deliveries: &[Delivery], until: i64) -> rusqlite::Result<()> {
    let tx = c.transaction()?;
    {
        let mut hide = tx.prepare_cached(
            "UPDATE queue_messages SET visible_at = ?3 WHERE id = ?1 AND receive_count = ?2",
        )?;
        for (id, count) in deliveries {
            hide.execute(params![id, count, until])?;
        }
    }
    tx.commit()
}

/// Messages by state.
pub fn counts(c: &Connection, queue: &str, now: i64) -> rusqlite::Result<QueueCounts> {
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
}

/// The dead-letter table, oldest first.
pub fn dead_letters(c: &Connection, queue: &str) -> rusqlite::Result<Vec<DeadLetter>> {
    let mut statement = c.prepare_cached(
        "SELECT id, body, receive_count, last_error FROM dead_letters WHERE queue = ?1 ORDER BY id",
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
}

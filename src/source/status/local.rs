//! The embedded feed status: the table `feed_status` in the pipeline's SQLite file (created
//! when missing, like the queue's and the store's), one row per feed label. A poll round is one
//! IMMEDIATE transaction: the failed feeds' rows are read and every feed's row written inside
//! it, so two pollers of one file cannot interleave. Times are microseconds since the epoch.
//! `serve` opens the file read-only ([`LocalFeedStatus::open_existing`]): before the first poll
//! the table may not exist, which reads as no status.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::{FeedStatus, FeedStatusStore};
use crate::source::{FeedPolled, Quota};
use crate::sqlite::{self, Shared};
use crate::store::StoreError;

/// The table's name.
const TABLE: &str = "feed_status";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS feed_status (
    feed            TEXT PRIMARY KEY,
    polled_at       INTEGER NOT NULL,
    outcome         TEXT NOT NULL,
    records         INTEGER NOT NULL,
    last_ok_at      INTEGER,
    quota_remaining INTEGER,
    quota_limit     INTEGER
) WITHOUT ROWID;
";

const COLUMNS: &str = "feed, polled_at, outcome, records, last_ok_at, quota_remaining, quota_limit";

/// The feed status in one pipeline's SQLite file.
pub struct LocalFeedStatus {
    connection: Shared,
    path: PathBuf,
}

impl LocalFeedStatus {
    /// Opens (creating when missing) the feed status in the database at `path`.
    pub fn open(path: &Path) -> Result<LocalFeedStatus, StoreError> {
        let error = |source| StoreError::sqlite(path, &source);
        let connection = sqlite::open(path).map_err(error)?;
        sqlite::create_schema(&connection, SCHEMA).map_err(error)?;
        Ok(LocalFeedStatus {
            connection: Arc::new(Mutex::new(connection)),
            path: path.to_owned(),
        })
    }

    /// Opens the database at `path`, which exists, read-only, for reading the status (`serve`).
    pub fn open_existing(path: &Path) -> Result<LocalFeedStatus, StoreError> {
        let connection = sqlite::open_read_only(path).map_err(|e| StoreError::sqlite(path, &e))?;
        Ok(LocalFeedStatus {
            connection: Arc::new(Mutex::new(connection)),
            path: path.to_owned(),
        })
    }

    async fn run_sql<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        sqlite::with_connection(&self.connection, work)
            .await
            .map_err(|task| StoreError::Task(task.to_string()))?
            .map_err(|source| StoreError::sqlite(&self.path, &source))
    }
}

fn integer(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A row of `feed_status` (selected as [`COLUMNS`]).
fn status_of(row: &rusqlite::Row<'_>) -> rusqlite::Result<FeedStatus> {
    let remaining: Option<i64> = row.get(5)?;
    let limit: Option<i64> = row.get(6)?;
    Ok(FeedStatus {
        feed: row.get(0)?,
        polled_at: sqlite::from_micros(row.get(1)?),
        outcome: row.get(2)?,
        records: row.get::<_, i64>(3)?.unsigned_abs(),
        last_ok_at: row.get::<_, Option<i64>>(4)?.map(sqlite::from_micros),
        quota: remaining.map(|remaining| Quota {
            remaining: remaining.unsigned_abs(),
            limit: limit.map(i64::unsigned_abs),
        }),
    })
}

#[async_trait]
impl FeedStatusStore for LocalFeedStatus {
    async fn record(&self, polls: &[FeedPolled]) -> Result<(), StoreError> {
        let polls = polls.to_vec();
        self.run_sql(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let mut select =
                    tx.prepare_cached(&format!("SELECT {COLUMNS} FROM {TABLE} WHERE feed = ?1"))?;
                let mut upsert = tx.prepare_cached(&format!(
                    "INSERT OR REPLACE INTO {TABLE} ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
                ))?;
                for poll in &polls {
                    // Only a failed poll keeps anything of the row before it.
                    let previous = match poll.failure {
                        Some(_) => select.query_row([&poll.feed], status_of).optional()?,
                        None => None,
                    };
                    let status = FeedStatus::after(poll, previous.as_ref());
                    upsert.execute(params![
                        status.feed,
                        sqlite::micros(status.polled_at),
                        status.outcome,
                        integer(status.records),
                        status.last_ok_at.map(sqlite::micros),
                        status.quota.map(|q| integer(q.remaining)),
                        status.quota.and_then(|q| q.limit).map(integer),
                    ])?;
                }
            }
            tx.commit()
        })
        .await
    }

    async fn all(&self) -> Result<Vec<FeedStatus>, StoreError> {
        self.run_sql(|c| {
            if !sqlite::tables_exist(c, &[TABLE])? {
                return Ok(Vec::new());
            }
            let mut select = c.prepare(&format!("SELECT {COLUMNS} FROM {TABLE} ORDER BY feed"))?;
            select.query_map([], status_of)?.collect()
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::FailureKind;
    use crate::source::status::tests::polled;

    #[tokio::test]
    async fn a_round_is_recorded_and_a_failure_keeps_the_last_ok_poll() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.db");
        let status = LocalFeedStatus::open(&path).unwrap();
        status
            .record(&[polled(100, None, Some(412))])
            .await
            .unwrap();
        status
            .record(&[polled(160, Some(FailureKind::Http4xx), None)])
            .await
            .unwrap();

        let all = LocalFeedStatus::open_existing(&path)
            .unwrap()
            .all()
            .await
            .unwrap();
        assert_eq!(all.len(), 1);
        let feed = &all[0];
        assert_eq!(feed.feed, "symbol=MSFT");
        assert_eq!(feed.outcome, "http_4xx");
        assert_eq!(feed.polled_at.timestamp(), 160);
        assert_eq!(feed.last_ok_at.map(|at| at.timestamp()), Some(100));
        assert_eq!(
            feed.quota,
            Some(Quota {
                remaining: 412,
                limit: Some(500)
            })
        );
    }

    #[tokio::test]
    async fn a_database_without_the_table_has_no_status() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.db");
        drop(sqlite::open(&path).unwrap());
        let all = LocalFeedStatus::open_existing(&path)
            .unwrap()
            .all()
            .await
            .unwrap();
        assert!(all.is_empty());
    }
}

//! The store stage: where processed records are written, keyed by the pipeline's key mapping so a
//! redelivered record overwrites itself. One trait; `local` is SQLite, the AWS one is DynamoDB.

pub mod dynamodb;
pub mod item;
pub mod local;

use async_trait::async_trait;

pub use item::Item;

use crate::sqlite_error::SqliteError;

/// Why a store operation failed. The records stay in the queue and are delivered again.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The embedded database failed (the error names the file and says what happened, once).
    #[error("local store: {0}")]
    Sqlite(SqliteError),
    /// A blocking task was cancelled or panicked.
    #[error("local store task failed: {0}")]
    Task(String),
    /// DynamoDB refused or could not be reached; the message names the table and the cause.
    #[error("{0}")]
    Aws(String),
}

impl StoreError {
    /// Whether trying again can help: not for a damaged state file or a full disk.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Sqlite(error) => error.is_transient(),
            StoreError::Task(_) | StoreError::Aws(_) => true,
        }
    }

    /// The error of the SQLite file at `path` (the local store, alert ledger and feed status).
    pub fn sqlite(path: &std::path::Path, source: &rusqlite::Error) -> StoreError {
        StoreError::Sqlite(SqliteError::new(path, source))
    }
}

/// Writes items and reads them back.
#[async_trait]
pub trait Store: Send + Sync {
    /// Writes every item; an item whose key already exists is replaced. All or nothing is not
    /// promised: on error the caller retries the whole batch, which is safe because writes are
    /// idempotent.
    async fn put_batch(&self, items: &[Item]) -> Result<(), StoreError>;

    /// Up to `limit` items, the most recently inserted first (for `stockrun show`).
    async fn recent(&self, limit: usize) -> Result<Vec<Item>, StoreError>;

    /// How many items the table holds.
    async fn count(&self) -> Result<u64, StoreError>;

    /// The item of `partition` with the greatest sort key below `before` (the previous record of
    /// a series, for a record that arrived late), if any.
    async fn previous(&self, partition: &str, before: &str) -> Result<Option<Item>, StoreError>;

    /// The items of `partition` with a sort key from `from` (inclusive) to `before` (exclusive),
    /// by sort key (the history a window reads).
    async fn range(
        &self,
        partition: &str,
        from: &str,
        before: &str,
    ) -> Result<Vec<Item>, StoreError>;

    /// The stored items among `keys` (partition, sort), in any order; a key not stored is left
    /// out. One request per 100 keys on AWS (for "is this record new or changed?").
    async fn existing(&self, keys: &[(String, Option<String>)]) -> Result<Vec<Item>, StoreError>;

    /// Every item whose sort key is at least `since` (all when `None`), of one partition when
    /// given, ordered by partition then sort key (what `backtest` replays).
    async fn history(
        &self,
        since: Option<&str>,
        partition: Option<&str>,
    ) -> Result<Vec<Item>, StoreError>;

    /// Up to `limit` series (partition key values), in key order, for a page that lists every
    /// series without reading every item: the embedded store walks its key index (one search
    /// per series); DynamoDB reads the keys of at most [`SERIES_SCAN_PAGES`] pages of a Scan
    /// (a table with more series than that shows the ones found).
    async fn series(&self, limit: usize) -> Result<Vec<String>, StoreError>;

    /// The newest `limit` items of `partition` by sort key, newest first (the latest values of a
    /// series and the change since the one before).
    async fn newest(&self, partition: &str, limit: usize) -> Result<Vec<Item>, StoreError>;
}

/// How many Scan pages (each at most 1 MB read) DynamoDB's [`Store::series`] reads for keys.
pub const SERIES_SCAN_PAGES: usize = 4;

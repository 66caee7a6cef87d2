//! The embedded store: a table in the pipeline's SQLite file, keyed like the DynamoDB table
//! (partition key, optional sort key), so writing the same record twice replaces it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use indexmap::IndexMap;
use rusqlite::{Connection, params};
use serde_json::Value;

use super::{Item, Store, StoreError};
use crate::sqlite::{self, Shared};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS items (
    table_name    TEXT NOT NULL,
    partition_key TEXT NOT NULL,
    sort_key      TEXT NOT NULL,
    inserted_at   TEXT NOT NULL,
    attributes    TEXT NOT NULL,
    PRIMARY KEY (table_name, partition_key, sort_key)
) WITHOUT ROWID;
";

/// The previous item of a series: the greatest sort key below one (a search of the primary key,
/// as the test below checks for every history read).
const PREVIOUS: &str = "SELECT partition_key, sort_key, attributes FROM items
     WHERE table_name = ?1 AND partition_key = ?2 AND sort_key < ?3 AND sort_key <> ''
     ORDER BY sort_key DESC LIMIT 1";

/// The items of a series from a sort key (inclusive) to another (exclusive).
const RANGE: &str = "SELECT partition_key, sort_key, attributes FROM items
     WHERE table_name = ?1 AND partition_key = ?2 AND sort_key >= ?3 AND sort_key < ?4
     AND sort_key <> ''
     ORDER BY sort_key";

/// One item by its key.
const EXISTING: &str = "SELECT partition_key, sort_key, attributes FROM items
     WHERE table_name = ?1 AND partition_key = ?2 AND sort_key = ?3";

/// The history of one series from a sort key on (every item of a table without sort keys).
const HISTORY_OF: &str = "SELECT partition_key, sort_key, attributes FROM items
     WHERE table_name = ?1 AND partition_key = ?2
     AND (sort_key >= ?3 OR sort_key = '')
     ORDER BY sort_key";

/// The history of every series from a sort key on.
const HISTORY_ALL: &str = "SELECT partition_key, sort_key, attributes FROM items
     WHERE table_name = ?1 AND (sort_key >= ?2 OR sort_key = '')
     ORDER BY partition_key, sort_key";

/// Every series, by a skip through the primary key: one search per distinct partition key, so
/// a million items of fifty series cost fifty searches, not a million rows.
const SERIES: &str = "WITH RECURSIVE series(key) AS (
         SELECT (SELECT min(partition_key) FROM items WHERE table_name = ?1)
         UNION ALL
         SELECT (SELECT min(partition_key) FROM items
                 WHERE table_name = ?1 AND partition_key > series.key)
         FROM series WHERE series.key IS NOT NULL
     )
     SELECT key FROM series WHERE key IS NOT NULL LIMIT ?2";

/// The newest items of one series, by sort key.
const NEWEST: &str = "SELECT partition_key, sort_key, attributes FROM items
     WHERE table_name = ?1 AND partition_key = ?2
     ORDER BY sort_key DESC LIMIT ?3";

/// The SQLite table of one pipeline.
pub struct LocalStore {
    connection: Shared,
    path: PathBuf,
    table: String,
    inserted_at: String,
    /// False for a read-only database nothing was stored in yet: it holds no item.
    has_table: bool,
}

impl LocalStore {
    /// Opens (creating when missing) the table `table` in the database at `path`;
    /// `inserted_at` names the attribute holding each item's insert time.
    pub fn open(path: &Path, table: &str, inserted_at: &str) -> Result<LocalStore, StoreError> {
        let error = |source| StoreError::sqlite(path, &source);
        let connection = sqlite::open(path).map_err(error)?;
        sqlite::create_schema(&connection, SCHEMA).map_err(error)?;
        Ok(LocalStore::with_connection(
            connection,
            path,
            table,
            inserted_at,
            true,
        ))
    }

    /// Opens the table in an existing database read-only (for reading it: `show`).
    pub fn open_existing(
        path: &Path,
        table: &str,
        inserted_at: &str,
    ) -> Result<LocalStore, StoreError> {
        let error = |source| StoreError::sqlite(path, &source);
        let connection = sqlite::open_read_only(path).map_err(error)?;
        let has_table = sqlite::tables_exist(&connection, &["items"]).map_err(error)?;
        Ok(LocalStore::with_connection(
            connection,
            path,
            table,
            inserted_at,
            has_table,
        ))
    }

    fn with_connection(
        connection: Connection,
        path: &Path,
        table: &str,
        inserted_at: &str,
        has_table: bool,
    ) -> LocalStore {
        LocalStore {
            connection: Arc::new(Mutex::new(connection)),
            path: path.to_owned(),
            table: table.to_owned(),
            inserted_at: inserted_at.to_owned(),
            has_table,
        }
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        match sqlite::with_connection(&self.connection, work).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(source)) => Err(StoreError::sqlite(&self.path, &source)),
            Err(task) => Err(StoreError::Task(task.to_string())),
        }
    }
}

#[async_trait]
impl Store for LocalStore {
    async fn put_batch(&self, items: &[Item]) -> Result<(), StoreError> {
        if items.is_empty() {
            return Ok(());
        }
        let table = self.table.clone();
        let rows: Vec<(String, String, String, String)> = items
            .iter()
            .map(|item| {
                let inserted_at = match item.attributes.get(&self.inserted_at) {
                    Some(Value::String(at)) => at.clone(),
                    _ => String::new(),
                };
                let attributes =
                    serde_json::to_string(&item.attributes).expect("JSON values always serialise");
                (
                    item.partition.clone(),
                    item.sort.clone().unwrap_or_default(),
                    inserted_at,
                    attributes,
                )
            })
            .collect();
        self.run(move |c| {
            let tx = c.transaction()?;
            {
                let mut upsert = tx.prepare_cached(
                    "INSERT INTO items (table_name, partition_key, sort_key, inserted_at, attributes)
                     VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (table_name, partition_key, sort_key)
                     DO UPDATE SET inserted_at = excluded.inserted_at, attributes = excluded.attributes",
                )?;
                for (partition, sort, inserted_at, attributes) in &rows {
                    upsert.execute(params![table, partition, sort, inserted_at, attributes])?;
                }
            }
            tx.commit()
        })
        .await
    }

    async fn recent(&self, limit: usize) -> Result<Vec<Item>, StoreError> {
        if !self.has_table {
            return Ok(Vec::new());
        }
        let table = self.table.clone();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.run(move |c| {
            let mut statement = c.prepare_cached(
                "SELECT partition_key, sort_key, attributes FROM items WHERE table_name = ?1
                 ORDER BY inserted_at DESC, partition_key, sort_key LIMIT ?2",
            )?;
            let rows = statement.query_map(params![table, limit], item_from_row)?;
            rows.collect()
        })
        .await
    }

    async fn count(&self) -> Result<u64, StoreError> {
        if !self.has_table {
            return Ok(0);
        }
        let table = self.table.clone();
        self.run(move |c| {
            c.query_row(
                "SELECT count(*) FROM items WHERE table_name = ?1",
                [table],
                |row| row.get::<_, i64>(0).map(i64::unsigned_abs),
            )
        })
        .await
    }

    async fn previous(&self, partition: &str, before: &str) -> Result<Option<Item>, StoreError> {
        if !self.has_table {
            return Ok(None);
        }
        let (table, partition, before) =
            (self.table.clone(), partition.to_owned(), before.to_owned());
        self.run(move |c| {
            let mut statement = c.prepare_cached(PREVIOUS)?;
            let mut rows = statement.query_map(params![table, partition, before], item_from_row)?;
            rows.next().transpose()
        })
        .await
    }

    async fn range(
        &self,
        partition: &str,
        from: &str,
        before: &str,
    ) -> Result<Vec<Item>, StoreError> {
        if !self.has_table {
            return Ok(Vec::new());
        }
        let (table, partition) = (self.table.clone(), partition.to_owned());
        let (from, before) = (from.to_owned(), before.to_owned());
        self.run(move |c| {
            let mut statement = c.prepare_cached(RANGE)?;
            let rows =
                statement.query_map(params![table, partition, from, before], item_from_row)?;
            rows.collect()
        })
        .await
    }

    async fn existing(&self, keys: &[(String, Option<String>)]) -> Result<Vec<Item>, StoreError> {
        if !self.has_table || keys.is_empty() {
            return Ok(Vec::new());
        }
        let table = self.table.clone();
        let mut keys: Vec<(String, String)> = keys
            .iter()
            .map(|(partition, sort)| (partition.clone(), sort.clone().unwrap_or_default()))
            .collect();
        keys.sort();
        keys.dedup();
        self.run(move |c| {
            let mut statement = c.prepare_cached(EXISTING)?;
            let mut found = Vec::new();
            for (partition, sort) in &keys {
                let mut rows =
                    statement.query_map(params![table, partition, sort], item_from_row)?;
                if let Some(item) = rows.next().transpose()? {
                    found.push(item);
                }
            }
            Ok(found)
        })
        .await
    }

    async fn history(
        &self,
        since: Option<&str>,
        partition: Option<&str>,
    ) -> Result<Vec<Item>, StoreError> {
        if !self.has_table {
            return Ok(Vec::new());
        }
        let table = self.table.clone();
        let since = since.unwrap_or_default().to_owned();
        let partition = partition.map(str::to_owned);
        self.run(move |c| {
            // Two statements rather than `?3 IS NULL OR ...`, so each one is a range scan of the
            // primary key.
            match partition {
                Some(partition) => {
                    let mut statement = c.prepare_cached(HISTORY_OF)?;
                    let rows =
                        statement.query_map(params![table, partition, since], item_from_row)?;
                    rows.collect()
                }
                None => {
                    let mut statement = c.prepare_cached(HISTORY_ALL)?;
                    let rows = statement.query_map(params![table, since], item_from_row)?;
                    rows.collect()
                }
            }
        })
        .await
    }

    async fn series(&self, limit: usize) -> Result<Vec<String>, StoreError> {
        if !self.has_table {
            return Ok(Vec::new());
        }
        let table = self.table.clone();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.run(move |c| {
            let mut statement = c.prepare_cached(SERIES)?;
            let rows = statement.query_map(params![table, limit], |row| row.get(0))?;
            rows.collect()
        })
        .await
    }

    async fn newest(&self, partition: &str, limit: usize) -> Result<Vec<Item>, StoreError> {
        if !self.has_table {
            return Ok(Vec::new());
        }
        let (table, partition) = (self.table.clone(), partition.to_owned());
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.run(move |c| {
            let mut statement = c.prepare_cached(NEWEST)?;
            let rows = statement.query_map(params![table, partition, limit], item_from_row)?;
            rows.collect()
        })
        .await
    }
}

/// The item of one row `(partition_key, sort_key, attributes)`; an empty sort key is none (a
/// table without a sort key stores `''`).
fn item_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Item> {
    let sort: String = row.get(1)?;
    let attributes: String = row.get(2)?;
    Ok(Item {
        partition: row.get(0)?,
        sort: (!sort.is_empty()).then_some(sort),
        attributes: serde_json::from_str::<IndexMap<String, Value>>(&attributes)
            .unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression guard for the ≤ 5 µs budget of a previous-record look-up over 1 000 000
    /// items: every history read searches the primary key (no scan of the table, no sort).
    #[test]
    fn history_reads_search_the_primary_key_without_sorting() {
        let connection = Connection::open_in_memory().expect("in-memory database");
        connection.execute_batch(SCHEMA).expect("schema");
        for sql in [PREVIOUS, RANGE, EXISTING, HISTORY_OF, HISTORY_ALL] {
            let plan = sql
                .replace("?1", "'t'")
                .replace("?2", "'p'")
                .replace("?3", "'s'");
            let plan = plan.replace("?4", "'u'");
            let mut statement = connection
                .prepare(&format!("EXPLAIN QUERY PLAN {plan}"))
                .expect("explain");
            let steps: Vec<String> = statement
                .query_map([], |row| row.get::<_, String>(3))
                .expect("plan")
                .collect::<Result<_, _>>()
                .expect("plan rows");
            assert_eq!(steps.len(), 1, "{sql}: {steps:?}");
            assert!(
                steps[0].starts_with("SEARCH items USING PRIMARY KEY (table_name=?"),
                "{sql}: {steps:?}"
            );
        }
    }
}

//! The embedded alert ledger: three tables in the pipeline's SQLite file, beside its items —
//! `alert_series` (each series' state and version), `alert_ledger` (every alert raised, by id,
//! with its outbox columns: queued, claimed until, settled) and `alert_meta` (the last digest).
//! A commit is one IMMEDIATE transaction, so the versions and ids it checks cannot change before
//! it writes, whichever process holds the file too. Times are microseconds since the epoch.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::{AlertLedger, Commit, CommitError, Pending};
use crate::alert::{Alert, AlertKind, SeriesState};
use crate::sqlite::{self, Shared};
use crate::store::StoreError;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS alert_series (
    table_name TEXT NOT NULL,
    series     TEXT NOT NULL,
    version    INTEGER NOT NULL,
    state      TEXT NOT NULL,
    PRIMARY KEY (table_name, series)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS alert_ledger (
    table_name    TEXT NOT NULL,
    id            TEXT NOT NULL,
    series        TEXT NOT NULL,
    rule          TEXT NOT NULL,
    kind          TEXT NOT NULL,
    at            INTEGER NOT NULL,
    alert         TEXT NOT NULL,
    queued_at     INTEGER NOT NULL,
    claimed_until INTEGER,
    settled_at    INTEGER,
    PRIMARY KEY (table_name, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS alert_outbox
    ON alert_ledger (table_name, queued_at) WHERE settled_at IS NULL;
CREATE INDEX IF NOT EXISTS alert_raised ON alert_ledger (table_name, at);
CREATE TABLE IF NOT EXISTS alert_meta (
    table_name TEXT NOT NULL,
    key        TEXT NOT NULL,
    value      TEXT NOT NULL,
    PRIMARY KEY (table_name, key)
) WITHOUT ROWID;
";

/// The `alert_meta` key of the last digest's time.
const DIGEST_KEY: &str = "digest";

/// The alert ledger of one pipeline's table in its SQLite file.
pub struct LocalLedger {
    connection: Shared,
    path: PathBuf,
    table: String,
}

impl LocalLedger {
    /// Opens (creating when missing) the ledger of `table` in the database at `path`.
    pub fn open(path: &Path, table: &str) -> Result<LocalLedger, StoreError> {
        let error = |source| StoreError::sqlite(path, &source);
        let connection = sqlite::open(path).map_err(error)?;
        sqlite::create_schema(&connection, SCHEMA).map_err(error)?;
        Ok(LocalLedger {
            connection: Arc::new(Mutex::new(connection)),
            path: path.to_owned(),
            table: table.to_owned(),
        })
    }

    async fn run<T: Send + 'static, E: From<rusqlite::Error> + Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection) -> Result<T, E> + Send + 'static,
    ) -> Result<Result<T, E>, StoreError> {
        sqlite::with_connection(&self.connection, work)
            .await
            .map_err(|task| StoreError::Task(task.to_string()))
    }

    /// Runs `work`, mapping SQLite's errors to store errors.
    async fn run_sql<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.run(work)
            .await?
            .map_err(|source| StoreError::sqlite(&self.path, &source))
    }
}

fn kind_name(kind: AlertKind) -> &'static str {
    match kind {
        AlertKind::Fired => "fired",
        AlertKind::Resolved => "resolved",
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("alert types always serialise")
}

/// A stored JSON column that does not parse (written by a later stockrun, or edited by hand).
fn corrupt(column: &str, error: &serde_json::Error) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        0,
        rusqlite::types::Type::Text,
        format!("{column}: {error}").into(),
    )
}

/// What a commit found wrong inside its transaction, or SQLite's error.
enum Refused {
    Commit(CommitError),
    Sqlite(rusqlite::Error),
}

impl From<rusqlite::Error> for Refused {
    fn from(error: rusqlite::Error) -> Self {
        Refused::Sqlite(error)
    }
}

#[async_trait]
impl AlertLedger for LocalLedger {
    async fn load(&self, series: &[String]) -> Result<HashMap<String, SeriesState>, StoreError> {
        let (table, series) = (self.table.clone(), series.to_vec());
        self.run_sql(move |c| {
            let mut select = c.prepare_cached(
                "SELECT version, state FROM alert_series WHERE table_name = ?1 AND series = ?2",
            )?;
            let mut states = HashMap::with_capacity(series.len());
            for name in series {
                let row = select
                    .query_row(params![table, name], |row| {
                        Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
                    })
                    .optional()?;
                if let Some((version, state)) = row {
                    let mut state: SeriesState =
                        serde_json::from_str(&state).map_err(|e| corrupt("state", &e))?;
                    state.version = version.unsigned_abs();
                    states.insert(name, state);
                }
            }
            Ok(states)
        })
        .await
    }

    async fn commit(&self, commit: &Commit) -> Result<(), CommitError> {
        let (table, commit) = (self.table.clone(), commit.clone());
        let queued_at = sqlite::micros(Utc::now());
        let result = self
            .run(move |c| {
                let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let conflicts = stale_series(&tx, &table, &commit)?;
                if !conflicts.is_empty() {
                    return Err(Refused::Commit(CommitError::Conflict(conflicts)));
                }
                let duplicates = raised_already(&tx, &table, &commit.alerts)?;
                if !duplicates.is_empty() {
                    return Err(Refused::Commit(CommitError::Duplicate(duplicates)));
                }
                write(&tx, &table, &commit, queued_at)?;
                tx.commit()?;
                Ok(())
            })
            .await?;
        match result {
            Ok(()) => Ok(()),
            Err(Refused::Commit(error)) => Err(error),
            Err(Refused::Sqlite(source)) => Err(StoreError::sqlite(&self.path, &source).into()),
        }
    }

    async fn claim(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Pending>, StoreError> {
        let table = self.table.clone();
        let until = sqlite::micros(now + lease);
        let now = sqlite::micros(now);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.run_sql(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut claimed = Vec::new();
            {
                let mut select = tx.prepare_cached(
                    "SELECT id, alert, queued_at FROM alert_ledger
                     WHERE table_name = ?1 AND settled_at IS NULL
                       AND (claimed_until IS NULL OR claimed_until < ?2)
                     ORDER BY queued_at, id LIMIT ?3",
                )?;
                let rows = select.query_map(params![table, now, limit], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, String>(1)?,
                        row.get(2)?,
                    ))
                })?;
                let mut update = tx.prepare_cached(
                    "UPDATE alert_ledger SET claimed_until = ?3 WHERE table_name = ?1 AND id = ?2",
                )?;
                for row in rows {
                    let (id, alert, queued_at): (String, String, i64) = row?;
                    update.execute(params![table, id, until])?;
                    claimed.push(Pending {
                        alert: serde_json::from_str(&alert).map_err(|e| corrupt("alert", &e))?,
                        queued_at: sqlite::from_micros(queued_at),
                    });
                }
            }
            tx.commit()?;
            Ok(claimed)
        })
        .await
    }

    async fn settle(&self, ids: &[String]) -> Result<(), StoreError> {
        let (table, ids) = (self.table.clone(), ids.to_vec());
        let now = sqlite::micros(Utc::now());
        self.run_sql(move |c| {
            let tx = c.transaction()?;
            {
                let mut update = tx.prepare_cached(
                    "UPDATE alert_ledger SET settled_at = ?3
                     WHERE table_name = ?1 AND id = ?2 AND settled_at IS NULL",
                )?;
                for id in &ids {
                    update.execute(params![table, id, now])?;
                }
            }
            tx.commit()
        })
        .await
    }

    async fn last_digest(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let table = self.table.clone();
        let value = self
            .run_sql(move |c| {
                c.query_row(
                    "SELECT value FROM alert_meta WHERE table_name = ?1 AND key = ?2",
                    params![table, DIGEST_KEY],
                    |row| row.get::<_, String>(0),
                )
                .optional()
            })
            .await?;
        Ok(value
            .and_then(|text| text.parse::<i64>().ok())
            .map(sqlite::from_micros))
    }

    async fn digest_sent(&self, at: DateTime<Utc>) -> Result<(), StoreError> {
        let (table, at) = (self.table.clone(), sqlite::micros(at).to_string());
        self.run_sql(move |c| {
            c.execute(
                "INSERT INTO alert_meta (table_name, key, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT (table_name, key) DO UPDATE SET value = excluded.value",
                params![table, DIGEST_KEY, at],
            )
            .map(drop)
        })
        .await
    }

    async fn raised_since(&self, since: DateTime<Utc>) -> Result<Vec<Alert>, StoreError> {
        let (table, since) = (self.table.clone(), sqlite::micros(since));
        self.run_sql(move |c| {
            let mut select = c.prepare_cached(
                "SELECT alert FROM alert_ledger WHERE table_name = ?1 AND at >= ?2
                 ORDER BY at, id",
            )?;
            let rows = select.query_map(params![table, since], |row| row.get::<_, String>(0))?;
            rows.map(|alert| serde_json::from_str(&alert?).map_err(|e| corrupt("alert", &e)))
                .collect()
        })
        .await
    }
}

/// The series of `commit` whose stored version is not the one it expects (0: no state).
fn stale_series(tx: &Connection, table: &str, commit: &Commit) -> rusqlite::Result<Vec<String>> {
    let mut select = tx
        .prepare_cached("SELECT version FROM alert_series WHERE table_name = ?1 AND series = ?2")?;
    let mut stale = Vec::new();
    for write in &commit.states {
        let version: Option<i64> = select
            .query_row(params![table, write.series], |row| row.get(0))
            .optional()?;
        if version.unwrap_or(0).unsigned_abs() != write.expected_version {
            stale.push(write.series.clone());
        }
    }
    Ok(stale)
}

/// The ids among `alerts` the ledger holds already.
fn raised_already(tx: &Connection, table: &str, alerts: &[Alert]) -> rusqlite::Result<Vec<String>> {
    let mut exists = tx.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM alert_ledger WHERE table_name = ?1 AND id = ?2)",
    )?;
    let mut raised = Vec::new();
    for alert in alerts {
        if exists.query_row(params![table, alert.id], |row| row.get::<_, bool>(0))? {
            raised.push(alert.id.clone());
        }
    }
    Ok(raised)
}

/// Writes the states (version + 1) and the alerts (into the ledger and the outbox).
fn write(tx: &Connection, table: &str, commit: &Commit, queued_at: i64) -> rusqlite::Result<()> {
    let mut upsert = tx.prepare_cached(
        "INSERT INTO alert_series (table_name, series, version, state) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (table_name, series)
         DO UPDATE SET version = excluded.version, state = excluded.state",
    )?;
    for write in &commit.states {
        let mut state = write.state.clone();
        state.version = write.expected_version + 1;
        let version = i64::try_from(state.version).unwrap_or(i64::MAX);
        upsert.execute(params![table, write.series, version, to_json(&state)])?;
    }
    // One alert raised twice in one commit is one alert (its id says it is the same).
    let mut insert = tx.prepare_cached(
        "INSERT OR IGNORE INTO alert_ledger
         (table_name, id, series, rule, kind, at, alert, queued_at, claimed_until)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    let claimed_until = commit.claimed_until.map(sqlite::micros);
    for alert in &commit.alerts {
        insert.execute(params![
            table,
            alert.id,
            alert.series,
            alert.rule,
            kind_name(alert.kind),
            sqlite::micros(alert.at),
            to_json(alert),
            queued_at,
            claimed_until,
        ])?;
    }
    Ok(())
}

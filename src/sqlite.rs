//! Opening the embedded database: one SQLite file per pipeline under the state directory (its
//! path is `naming::database_path`), shared by the local queue and the local store.

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::Connection;

/// An instant as the embedded tables keep it: microseconds since the epoch (an INTEGER that sorts).
pub fn micros(at: chrono::DateTime<chrono::Utc>) -> i64 {
    at.timestamp_micros()
}

/// The instant [`micros`] wrote (the epoch when out of range).
pub fn from_micros(micros: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_micros(micros).unwrap_or_default()
}

/// How long a writer waits for another process holding the database (a second `consume`).
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Opens (creating when missing) the database at `path` in WAL mode, so the poller and the
/// consumer (even in two processes) read and write without blocking each other.
///
/// `synchronous = NORMAL` in WAL mode survives a killed process (every committed transaction is
/// kept); only an OS crash or power loss can drop the last transactions, and those are replayed
/// in order, so a lost delete means a redelivery (idempotent), never a lost record.
pub fn open(path: &Path) -> rusqlite::Result<Connection> {
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        // Reported by `Connection::open` below when it fails.
        let _ = std::fs::create_dir_all(dir);
    }
    let connection = Connection::open(path)?;
    connection.busy_timeout(BUSY_TIMEOUT)?;
    retry_busy(|| connection.pragma_update(None, "journal_mode", "WAL"))?;
    retry_busy(|| connection.pragma_update(None, "synchronous", "NORMAL"))?;
    Ok(connection)
}

/// Runs `schema` (`CREATE TABLE IF NOT EXISTS ...`) on `connection`, waiting while another
/// process creates the database.
pub fn create_schema(connection: &Connection, schema: &str) -> rusqlite::Result<()> {
    retry_busy(|| connection.execute_batch(schema))
}

/// Runs `work` again while SQLite answers "database is locked", for up to [`BUSY_TIMEOUT`].
/// The busy timeout covers ordinary lock waits, but while another process creates a new
/// database and switches it to WAL, SQLite answers SQLITE_BUSY at once (found by bench/soak:
/// `poll` and `consume` started together on a new state directory, and one of them exited).
fn retry_busy<T>(mut work: impl FnMut() -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        match work() {
            Err(rusqlite::Error::SqliteFailure(error, _))
                if error.code == rusqlite::ErrorCode::DatabaseBusy
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            result => return result,
        }
    }
}

/// Opens an existing database read-only, for commands that only look (`show`): they need no
/// write access to the file or the state directory, and a mistyped `--state-dir` is an error
/// instead of a new empty database.
///
/// A WAL database opened read-only still needs its `-shm` file: when neither it nor the `-wal`
/// file exists (no process has the database open) and the directory is not writable, SQLite
/// cannot create it, so the file is opened as immutable instead (nothing can be writing it: a
/// writer needs those files in that directory).
pub fn open_read_only(path: &Path) -> rusqlite::Result<Connection> {
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
        | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX
        | rusqlite::OpenFlags::SQLITE_OPEN_URI;
    let connection = Connection::open_with_flags(path, flags)?;
    connection.busy_timeout(BUSY_TIMEOUT)?;
    match connection.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(())) {
        Err(rusqlite::Error::SqliteFailure(error, message))
            if matches!(
                error.code,
                rusqlite::ErrorCode::ReadOnly | rusqlite::ErrorCode::CannotOpen
            ) =>
        {
            let mut wal = path.as_os_str().to_owned();
            wal.push("-wal");
            let immutable = std::path::absolute(path)
                .ok()
                .and_then(|absolute| url::Url::from_file_path(absolute).ok());
            match immutable {
                Some(url) if !Path::new(&wal).exists() => {
                    let connection =
                        Connection::open_with_flags(format!("{url}?immutable=1"), flags)?;
                    connection.busy_timeout(BUSY_TIMEOUT)?;
                    Ok(connection)
                }
                _ => Err(rusqlite::Error::SqliteFailure(error, message)),
            }
        }
        Err(error) => Err(error),
        Ok(()) => Ok(connection),
    }
}

/// Whether the tables named in `tables` all exist (a read-only connection cannot create them).
pub fn tables_exist(connection: &Connection, tables: &[&str]) -> rusqlite::Result<bool> {
    let mut exists = connection.prepare(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1)",
    )?;
    for table in tables {
        if !exists.query_row([table], |row| row.get::<_, bool>(0))? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Checks the file's structure with `PRAGMA quick_check` (every page and index entry is read,
/// without comparing indexes to their tables); returns the first problem found. It costs one
/// read of the whole file: 43 ms for 100 000 queued messages (37 MB) with the file in the page
/// cache, 0.7 s from a cold cache (RELIABILITY.md).
pub fn quick_check(connection: &Connection) -> rusqlite::Result<Option<String>> {
    let verdict: String =
        retry_busy(|| connection.query_row("PRAGMA quick_check(1)", [], |row| row.get(0)))?;
    // "*** in database main ***" heads the findings; the rest is one finding.
    let finding: Vec<&str> = verdict
        .lines()
        .filter(|line| !line.starts_with("***"))
        .collect();
    Ok((verdict != "ok").then(|| finding.join(" ")))
}

/// A connection shared by the async tasks of one process; every use runs on a blocking thread.
pub type Shared = Arc<Mutex<Connection>>;

/// Runs `work` with the connection on tokio's blocking pool.
pub async fn with_connection<T, E>(
    connection: &Shared,
    work: impl FnOnce(&mut Connection) -> Result<T, E> + Send + 'static,
) -> Result<Result<T, E>, tokio::task::JoinError>
where
    T: Send + 'static,
    E: Send + 'static,
{
    let connection = Arc::clone(connection);
    tokio::task::spawn_blocking(move || {
        let mut guard = connection
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        work(&mut guard)
    })
    .await
}

/// Milliseconds since the Unix epoch, the clock the local queue's visibility uses.
pub fn now_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use std::sync::Barrier;

    use super::*;

    /// Regression (found by bench/soak): `poll` and `consume` started together on a new state
    /// directory; one of them failed at once with "database is locked" while the other was
    /// creating the file and switching it to WAL (SQLite answers SQLITE_BUSY there without
    /// calling the busy handler). Every opener must wait its turn instead.
    #[test]
    fn processes_opening_a_new_database_at_once_all_succeed() {
        const OPENERS: usize = 4;
        for round in 0..40 {
            let dir = tempfile::tempdir().expect("temp dir");
            let path = dir.path().join("state").join("race.db");
            let barrier = Arc::new(Barrier::new(OPENERS));
            let threads: Vec<_> = (0..OPENERS)
                .map(|i| {
                    let (path, barrier) = (path.clone(), Arc::clone(&barrier));
                    std::thread::spawn(move || {
                        barrier.wait();
                        let connection = open(&path)?;
                        create_schema(
                            &connection,
                            &format!("CREATE TABLE IF NOT EXISTS t{i} (id INTEGER PRIMARY KEY);"),
                        )
                    })
                })
                .collect();
            for thread in threads {
                let result = thread.join().expect("no panic");
                assert!(result.is_ok(), "round {round}: {result:?}");
            }
        }
    }
}

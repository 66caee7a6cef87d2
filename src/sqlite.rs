//! Opening the embedded database: one SQLite file per pipeline under the state directory, shared
//! by the local queue and the local store.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::Connection;

/// How long a writer waits for another process holding the database (a second `consume`).
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The database file of `pipeline` under `state_dir`.
pub fn database_path(state_dir: &Path, pipeline: &str) -> PathBuf {
    state_dir.join(format!("{pipeline}.db"))
}

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
    connection.pragma_update(None, "journal_mode", "WAL")?;
    connection.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(connection)
}

/// Opens an existing database (for commands that only read, so a mistyped `--state-dir` is an
/// error instead of a new empty database).
pub fn open_existing(path: &Path) -> rusqlite::Result<Connection> {
    let connection = Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    connection.busy_timeout(BUSY_TIMEOUT)?;
    Ok(connection)
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

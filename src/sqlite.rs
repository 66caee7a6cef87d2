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

/// A connection shared by the async tasks of one process; every use goes through
/// [`with_connection`].
pub type Shared = Arc<Mutex<Connection>>;

/// Work on a connection that did not finish: it panicked, or the runtime was shutting down.
#[derive(Debug, thiserror::Error)]
#[error("the database work did not finish: {0}")]
pub struct Unfinished(String);

/// Runs `work` with the connection, where it may block (on SQLite's busy timeout, on the disk)
/// without stalling other tasks.
///
/// On a multi-threaded runtime (every command) it runs on the calling thread through
/// [`tokio::task::block_in_place`]: on the thread of `block_on` that is all, on a worker the
/// worker's other tasks are handed to another thread meanwhile. Then it yields once, so the
/// other futures of the same task (the poller beside the consumer in `run`'s `join!`) still run
/// between calls while a backlog drains, as they did while a call waited on the blocking pool;
/// within one call they wait, at most SQLite's busy timeout when another process holds the
/// file's write lock. On a current-thread runtime
/// (`#[tokio::test]`), where `block_in_place` is not allowed, it runs on the blocking pool. A round trip to the
/// blocking pool per call cost a fifth of the drain's CPU in thread wake-ups: the drain went
/// from 37 700 to about 51 000 records/s, and from 30 000 to 50 000 in a spawned task (a
/// pipeline of `run DIR`) (BENCHMARKS.md).
pub async fn with_connection<T, E>(
    connection: &Shared,
    work: impl FnOnce(&mut Connection) -> Result<T, E> + Send + 'static,
) -> Result<Result<T, E>, Unfinished>
where
    T: Send + 'static,
    E: Send + 'static,
{
    let on_worker = tokio::runtime::Handle::try_current().is_ok_and(|runtime| {
        runtime.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread
    });
    let connection = Arc::clone(connection);
    let run = move || {
        let mut guard = connection
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        work(&mut guard)
    };
    if on_worker {
        // A panic is reported like one on the blocking pool, not unwound through the caller.
        let done = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            tokio::task::block_in_place(run)
        }))
        .map_err(|panic| Unfinished(panic_message(panic.as_ref())));
        // tokio's cooperative budget cannot do this: `block_in_place` on the thread of
        // `block_on` leaves the task's budget unconstrained (tokio 1.54 restores it only on a
        // worker), so `consume_budget` would never yield there.
        tokio::task::yield_now().await;
        done
    } else {
        tokio::task::spawn_blocking(run)
            .await
            .map_err(|task| Unfinished(task.to_string()))
    }
}

/// What a panic said, when it said it as text.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|message| (*message).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "it panicked".to_owned())
}

/// Milliseconds since the Unix epoch, the clock the local queue's visibility uses.
pub fn now_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use std::sync::Barrier;

    use super::*;

    /// On a multi-threaded runtime the work runs on the calling thread (no hand-off to the
    /// blocking pool); on a current-thread runtime, on another thread. Either way a panic in it
    /// is an error, not an unwinding caller.
    #[test]
    fn work_runs_where_it_may_block_and_a_panic_is_an_error() {
        for multi_thread in [true, false] {
            let runtime = if multi_thread {
                tokio::runtime::Builder::new_multi_thread().build()
            } else {
                tokio::runtime::Builder::new_current_thread().build()
            }
            .expect("runtime");
            let shared: Shared = Arc::new(Mutex::new(Connection::open_in_memory().unwrap()));
            runtime.block_on(async {
                let caller = std::thread::current().id();
                let ran_on = with_connection(&shared, |c| {
                    c.query_row("SELECT 1", [], |row| row.get::<_, i64>(0))?;
                    Ok::<_, rusqlite::Error>(std::thread::current().id())
                })
                .await
                .expect("finished")
                .expect("query");
                assert_eq!(
                    ran_on == caller,
                    multi_thread,
                    "multi-thread: {multi_thread}"
                );
                let panicked = with_connection(&shared, |_| -> rusqlite::Result<()> {
                    panic!("work went wrong")
                })
                .await;
                let error = panicked.expect_err("a panic is an error").to_string();
                assert!(error.contains("did not finish"), "{error}");
                // The connection is still usable after the panic.
                let again = with_connection(&shared, |c| {
                    c.query_row("SELECT 2", [], |row| row.get::<_, i64>(0))
                })
                .await;
                assert_eq!(again.expect("finished").expect("query"), 2);
            });
        }
    }

    /// Work run in place still lets the other futures of its task run between calls: a
    /// consumer draining a backlog in `run`'s `join!` must not starve the poller beside it.
    #[test]
    fn other_futures_of_the_task_run_between_calls() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .build()
            .expect("runtime");
        let shared: Shared = Arc::new(Mutex::new(Connection::open_in_memory().unwrap()));
        let ticks = std::sync::atomic::AtomicUsize::new(0);
        let seen = runtime.block_on(async {
            let ticker = async {
                loop {
                    tokio::task::yield_now().await;
                    ticks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            };
            let calls = async {
                for _ in 0..1000 {
                    with_connection(&shared, |c| {
                        c.query_row("SELECT 1", [], |row| row.get::<_, i64>(0))
                    })
                    .await
                    .expect("finished")
                    .expect("query");
                }
                ticks.load(std::sync::atomic::Ordering::Relaxed)
            };
            tokio::select! {
                seen = calls => seen,
                () = ticker => unreachable!("the ticker never ends"),
            }
        });
        assert!(
            seen >= 2,
            "the other future ran {seen} times during 1000 calls"
        );
    }

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

//! What went wrong with a state file (the pipeline's SQLite database), sorted by what to do about
//! it: a damaged file or a full disk cannot be fixed by trying again (a consumer that went on
//! would store and e-mail the same records again and again), a busy file can. The message says
//! what happened once, names the file or directory and, when the file is damaged, how to recover.

use std::fmt;
use std::path::{Path, PathBuf};

use rusqlite::ErrorCode;

/// Below this much free space on the state directory's filesystem, an I/O error is taken for a
/// full disk: SQLite reports ENOSPC as "database or disk is full" only for page writes, and as a
/// generic I/O error elsewhere (growing the `-shm` file, `Error code 4874`).
const NEARLY_FULL_BYTES: u64 = 1024 * 1024;

/// What kind of failure a SQLite error is, for deciding whether to try again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The file is damaged (`SQLITE_CORRUPT`, `SQLITE_NOTADB`, or `PRAGMA quick_check` found a
    /// problem): trying again reads the same damage.
    Damaged,
    /// No space left on the device holding the state directory (`SQLITE_FULL`, or an I/O error
    /// while the filesystem has no room).
    DiskFull,
    /// Another connection holds the file (`SQLITE_BUSY`, `SQLITE_LOCKED`): it will let go.
    Busy,
    /// Anything else (an I/O error, a permission problem): tried again as before.
    Other,
}

/// A failed operation on a state file, classified, with SQLite's own words kept once.
#[derive(Clone, Debug)]
pub struct SqliteError {
    fault: Fault,
    path: PathBuf,
    detail: String,
}

impl SqliteError {
    /// Classifies `error`, raised while working on the database file at `path`.
    pub fn new(path: &Path, error: &rusqlite::Error) -> SqliteError {
        let (fault, detail) = match error {
            rusqlite::Error::SqliteFailure(failure, message) => {
                let words = message.clone().unwrap_or_else(|| {
                    rusqlite::ffi::code_to_str(failure.extended_code).to_owned()
                });
                // The generic words ("disk I/O error") hide which operation failed; the extended
                // code says it.
                let detail = if failure.extended_code & 0xff == failure.extended_code {
                    words
                } else {
                    format!("{words}; SQLite code {}", failure.extended_code)
                };
                (fault_of(failure.code, path), detail)
            }
            other => (Fault::Other, other.to_string()),
        };
        SqliteError {
            fault,
            path: path.to_owned(),
            detail,
        }
    }

    /// A file that `PRAGMA quick_check` found damaged; `problem` is its first finding.
    pub fn damaged(path: &Path, problem: &str) -> SqliteError {
        SqliteError {
            fault: Fault::Damaged,
            path: path.to_owned(),
            detail: format!("integrity check: {problem}"),
        }
    }

    /// What kind of failure this is.
    pub fn fault(&self) -> Fault {
        self.fault
    }

    /// Whether trying again can help: not for a damaged file or a full disk.
    pub fn is_transient(&self) -> bool {
        !matches!(self.fault, Fault::Damaged | Fault::DiskFull)
    }

    /// The directory holding the file (the state directory).
    fn directory(&self) -> &Path {
        match self.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        }
    }
}

impl fmt::Display for SqliteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path.display();
        match self.fault {
            Fault::Damaged => write!(
                f,
                "the state file {path} is damaged ({detail}); stockrun stops rather than store \
                 and e-mail the same records again and again. To recover, stop every stockrun \
                 using it, move it aside with its -wal and -shm files (`mv {path} \
                 {path}.damaged`), then either run again from an empty state (what was queued is \
                 polled again) or first salvage what it holds: `sqlite3 {path}.damaged .recover \
                 | sqlite3 {path}` (`.dump` instead of `.recover` with sqlite3 3.40)",
                detail = self.detail
            ),
            Fault::DiskFull => write!(
                f,
                "disk full (no space left on device) writing {} ({path}): free some space there \
                 or move the state directory (--state-dir) to a disk with room",
                self.directory().display()
            ),
            Fault::Busy | Fault::Other => write!(f, "{path}: {}", self.detail),
        }
    }
}

impl std::error::Error for SqliteError {}

fn fault_of(code: ErrorCode, path: &Path) -> Fault {
    match code {
        ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase => Fault::Damaged,
        ErrorCode::DiskFull => Fault::DiskFull,
        ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => Fault::Busy,
        ErrorCode::SystemIoFailure | ErrorCode::CannotOpen if filesystem_is_full(path) => {
            Fault::DiskFull
        }
        _ => Fault::Other,
    }
}

/// Whether the filesystem holding `path` (or its directory) has no room left: under
/// [`NEARLY_FULL_BYTES`] free, or no free inode.
#[cfg(unix)]
fn filesystem_is_full(path: &Path) -> bool {
    let probe = if path.exists() {
        path
    } else {
        path.parent().unwrap_or(path)
    };
    match rustix::fs::statvfs(probe) {
        Ok(stat) => {
            let free = stat.f_bavail.saturating_mul(stat.f_frsize);
            free < NEARLY_FULL_BYTES || (stat.f_files > 0 && stat.f_favail == 0)
        }
        Err(_) => false,
    }
}

#[cfg(not(unix))]
fn filesystem_is_full(_: &Path) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(code: i32, message: Option<&str>) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), message.map(str::to_owned))
    }

    #[test]
    fn corruption_and_a_full_disk_are_not_transient_a_busy_file_is() {
        let path = Path::new("state/p.db");
        let corrupt = SqliteError::new(path, &failure(rusqlite::ffi::SQLITE_CORRUPT, None));
        let not_a_db = SqliteError::new(path, &failure(rusqlite::ffi::SQLITE_NOTADB, None));
        let full = SqliteError::new(path, &failure(rusqlite::ffi::SQLITE_FULL, None));
        let busy = SqliteError::new(path, &failure(rusqlite::ffi::SQLITE_BUSY, None));
        let locked = SqliteError::new(path, &failure(rusqlite::ffi::SQLITE_LOCKED, None));
        assert_eq!(corrupt.fault(), Fault::Damaged);
        assert_eq!(not_a_db.fault(), Fault::Damaged);
        assert_eq!(full.fault(), Fault::DiskFull);
        assert_eq!(busy.fault(), Fault::Busy);
        assert_eq!(locked.fault(), Fault::Busy);
        assert!(!corrupt.is_transient() && !not_a_db.is_transient() && !full.is_transient());
        assert!(busy.is_transient() && locked.is_transient());
    }

    #[test]
    fn messages_say_the_cause_once_and_name_the_file_or_directory() {
        let path = Path::new("state/p.db");
        let full = SqliteError::new(
            path,
            &failure(rusqlite::ffi::SQLITE_FULL, Some("database or disk is full")),
        )
        .to_string();
        assert!(
            full.starts_with("disk full (no space left on device) writing state (state/p.db)"),
            "{full}"
        );
        assert!(!full.contains("database or disk is full"), "{full}");
        let damaged = SqliteError::new(
            path,
            &failure(
                rusqlite::ffi::SQLITE_CORRUPT,
                Some("database disk image is malformed"),
            ),
        )
        .to_string();
        assert_eq!(damaged.matches("malformed").count(), 1, "{damaged}");
        assert!(
            damaged.contains("the state file state/p.db is damaged"),
            "{damaged}"
        );
        assert!(
            damaged.contains("sqlite3 state/p.db.damaged .recover"),
            "{damaged}"
        );
        // An I/O error without a message says which operation failed, once.
        let io = SqliteError::new(Path::new("/"), &failure(4874, None)).to_string();
        assert_eq!(io.matches("disk I/O error").count(), 1, "{io}");
        assert!(io.ends_with("SQLite code 4874"), "{io}");
    }
}

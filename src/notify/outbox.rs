//! The offline notifier: every e-mail becomes an RFC 5322 `.eml` file in an outbox directory,
//! which any mail client opens. The default when no SMTP server or AWS is configured.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;

use super::{Email, Notifier, NotifyError, message};

/// Writes e-mails as files.
pub struct Outbox {
    dir: PathBuf,
    prefix: String,
    written: AtomicU64,
}

impl Outbox {
    /// An outbox writing to `dir` (created when missing); files are named
    /// `<prefix>-<UTC time>-<n>.eml`, so they sort by time.
    pub fn new(dir: &Path, prefix: &str) -> Outbox {
        Outbox {
            dir: dir.to_owned(),
            prefix: prefix.to_owned(),
            written: AtomicU64::new(0),
        }
    }
}

#[async_trait]
impl Notifier for Outbox {
    async fn send(&self, email: &Email) -> Result<String, NotifyError> {
        let bytes = message::build(email)?.formatted();
        let n = self.written.fetch_add(1, Ordering::Relaxed);
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ");
        let name = format!("{}-{stamp}-{}-{n}.eml", self.prefix, std::process::id());
        let path = self.dir.join(name);
        let write_error = |source| NotifyError::Write {
            path: path.display().to_string(),
            source,
        };
        tokio::fs::create_dir_all(&self.dir)
            .await
            .map_err(write_error)?;
        // Written under a temporary name and renamed, so a reader never sees half a message.
        let partial = path.with_extension("eml.partial");
        tokio::fs::write(&partial, bytes)
            .await
            .map_err(write_error)?;
        tokio::fs::rename(&partial, &path)
            .await
            .map_err(write_error)?;
        Ok(path.display().to_string())
    }
}

//! Deletes the local queue has accepted but not yet written. They ride along with the queue's
//! next receive transaction. Until written, a crash only means a redelivery of a stored record,
//! which overwrites itself.

use std::sync::{Mutex, MutexGuard};

use rusqlite::{Transaction, params};

/// A delivery to delete: `(message id, receive count)`.
pub type Delivery = (i64, u32);

/// The waiting deletes of one local queue.
#[derive(Debug, Default)]
pub struct DeferredDeletes(Mutex<Vec<Delivery>>);

impl DeferredDeletes {
    fn lock(&self) -> MutexGuard<'_, Vec<Delivery>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds deliveries; returns how many are waiting.
    pub fn add(&self, deliveries: impl IntoIterator<Item = Delivery>) -> usize {
        let mut waiting = self.lock();
        waiting.extend(deliveries);
        waiting.len()
    }

    /// Takes every waiting delete, to write it; give them back with `restore` if that fails.
    pub fn take(&self) -> Vec<Delivery> {
        std::mem::take(&mut *self.lock())
    }

    /// Puts back deletes whose transaction failed.
    pub fn restore(&self, deliveries: Vec<Delivery>) {
        self.lock().extend(deliveries);
    }
}

/// Deletes deliveries by id and receive count, inside `tx` (a stale delivery deletes nothing).
pub fn delete_rows(tx: &Transaction<'_>, rows: &[Delivery]) -> rusqlite::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut delete =
        tx.prepare_cached("DELETE FROM queue_messages WHERE id = ?1 AND receive_count = ?2")?;
    for (id, count) in rows {
        delete.execute(params![id, count])?;
    }
    Ok(())
}

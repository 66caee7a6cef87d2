//! The one batch lifecycle, shared by the local consumer and the Lambda SQS handler:
//! [`handle_batch`] takes the messages a queue delivered and, in this order,
//!
//! 1. **processes and stores** them (`store_batch`): each message becomes a stored record, a
//!    poison one (with the reason) or a failed one (the store write failed after retries);
//! 2. **e-mails the digest** of what was stored (`send_digest`), retried; a failure is logged,
//!    never returned, because the records are stored;
//! 3. **acknowledges**: the stored messages are done (the consumer deletes them; on Lambda the
//!    event source mapping deletes what the response does not list), poison is released for
//!    redelivery at once so it reaches the dead-letter queue after `max_receive_count` quick
//!    deliveries, and the failed messages are given back to the caller (the consumer holds and
//!    retries them; the Lambda handler lists them in `batchItemFailures`).
//!
//! The only difference between the two callers is how stored messages are acknowledged, the
//! [`Acknowledge`] they pass. The order keeps RELIABILITY.md's guarantees: nothing is e-mailed
//! before it is stored (a record that could still be lost is in no e-mail), nothing is deleted
//! before it is stored and e-mailed, and a process that dies anywhere before step 3 leaves the
//! batch to be delivered, stored (overwritten, by key) and e-mailed again: e-mail is at least
//! once, never not at all.

use std::collections::HashMap;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use serde_json::{Map, Value};

use super::{Stages, backoff};
use crate::notify::render::StoredRecord;
use crate::process::Key;
use crate::queue::{QueueError, Received};
use crate::store::{Item, StoreError};

/// How the queue learns that a batch's stored messages are done: the one difference between the
/// consumer and the Lambda handler. Poison is released through the queue either way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Acknowledge {
    /// Delete them through the queue (the local consumer).
    Delete,
    /// Leave them out of the response: the Lambda event source mapping deletes every message the
    /// handler does not list in `batchItemFailures`, once the handler has returned.
    Unlisted,
}

/// What became of a batch once it went through [`handle_batch`].
#[derive(Debug, Default)]
pub struct Settled {
    /// Records stored (and acknowledged as [`Acknowledge`] says).
    pub stored: usize,
    /// Poison messages, released for redelivery (then the dead-letter queue).
    pub poison: Vec<Received>,
    /// Messages whose record could not be stored: the caller gives them back (the consumer holds
    /// and retries them, the Lambda handler lists them).
    pub failed: Vec<Received>,
    /// Whether the digest e-mail was sent.
    pub emailed: bool,
    /// Set when the queue or the store failed in a way trying again cannot fix (a damaged state
    /// file, a full disk): the caller must stop, or it would store and e-mail the same records
    /// again and again.
    pub halt: Option<Halt>,
}

/// Why the lifecycle's caller must stop: the queue cannot record progress, or the store cannot
/// write, and trying again cannot help.
#[derive(Debug, thiserror::Error)]
pub enum Halt {
    /// Deleting or releasing messages failed.
    #[error("{0}")]
    Queue(QueueError),
    /// Writing the records failed.
    #[error("{0}")]
    Store(StoreError),
}

impl Settled {
    /// The ids of the messages the queue must deliver again, poison and failed: what a Lambda
    /// response lists in `batchItemFailures`. A stored message is never among them.
    pub fn redelivered_ids(&self) -> impl Iterator<Item = &str> {
        self.failed
            .iter()
            .chain(&self.poison)
            .map(|message| message.id.as_str())
    }
}

/// Runs one batch through the lifecycle: store, e-mail the digest, acknowledge (see the module
/// doc for the order and why). Never fails as a whole: each message ends up stored, poison or
/// failed, and every queue or e-mail failure is logged.
pub async fn handle_batch(
    stages: &Stages,
    messages: Vec<Received>,
    acknowledge: Acknowledge,
) -> Settled {
    let outcome = store_batch(stages, messages).await;
    let emailed = match &outcome.digest {
        Some(digest) => send_digest(stages, digest).await.is_some(),
        None => false,
    };
    let mut halt = outcome.halt.map(Halt::Store);
    if acknowledge == Acknowledge::Delete {
        halt = halt.or(delete_stored(stages, &outcome.stored)
            .await
            .map(Halt::Queue));
    }
    halt = halt.or(release_poison(stages, &outcome.poison)
        .await
        .map(Halt::Queue));
    Settled {
        stored: outcome.stored.len(),
        poison: outcome
            .poison
            .into_iter()
            .map(|(message, _)| message)
            .collect(),
        failed: outcome.failed,
        emailed,
        halt,
    }
}

/// What became of each message of a batch once it was processed and stored.
#[derive(Debug, Default)]
struct BatchOutcome {
    /// Messages whose record is stored.
    stored: Vec<Received>,
    /// Poison messages with the reason.
    poison: Vec<(Received, String)>,
    /// Messages whose record could not be stored.
    failed: Vec<Received>,
    /// What the digest e-mail is about: the stored items, when any were stored.
    digest: Option<Digest>,
    /// The store's error, when trying again cannot help (the messages are in `failed`).
    halt: Option<StoreError>,
}

/// The stored items of a batch and their feeds, for the digest e-mail.
#[derive(Debug, Default)]
struct Digest {
    items: Vec<Item>,
    feeds: Vec<Map<String, Value>>,
}

/// How a store write is retried before the batch is given back to the queue (writes are
/// idempotent, so a retry after a write that did happen is harmless).
fn store_retry() -> ExponentialBuilder {
    backoff(Duration::from_millis(200), Duration::from_secs(2), 3)
}

/// How the digest e-mail is retried before giving up (the records are stored by then).
fn email_retry() -> ExponentialBuilder {
    backoff(Duration::from_millis(200), Duration::from_secs(5), 3)
}

/// Step 1: processes and stores one batch. Never fails as a whole: each message ends up in
/// exactly one of the outcome's lists.
async fn store_batch(stages: &Stages, messages: Vec<Received>) -> BatchOutcome {
    let mut outcome = BatchOutcome::default();
    let inserted_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mut items: Vec<Item> = Vec::with_capacity(messages.len());
    let mut feeds: Vec<Map<String, Value>> = Vec::with_capacity(messages.len());
    let mut processed: Vec<Received> = Vec::with_capacity(messages.len());
    // One write per key: a table rejects two writes of the same key in one batch, and the later
    // message is the newer value.
    let mut slot_of_key: HashMap<Key, usize> = HashMap::new();
    for message in messages {
        match stages.processor.process(&message.body) {
            Ok(record) => {
                let item = Item::new(&record, &stages.pipeline.store, &inserted_at);
                match slot_of_key.get(&record.key) {
                    Some(&slot) => {
                        items[slot] = item;
                        feeds[slot] = record.feed;
                    }
                    None => {
                        slot_of_key.insert(record.key, items.len());
                        items.push(item);
                        feeds.push(record.feed);
                    }
                }
                processed.push(message);
            }
            Err(poison) => {
                tracing::warn!(
                    message_id = %message.id,
                    receive_count = message.receive_count,
                    reason = %poison.reason,
                    "poison record: not stored; it is retried, then dead-lettered"
                );
                outcome.poison.push((message, poison.reason));
            }
        }
    }
    if items.is_empty() {
        return outcome;
    }
    let write = || stages.store.put_batch(&items);
    let written = write
        .retry(store_retry())
        .when(StoreError::is_transient)
        .notify(|error, wait| {
            tracing::warn!(%error, retry_in = ?wait, "store write failed; retrying");
        })
        .await;
    if let Err(error) = written {
        outcome.failed = processed;
        if error.is_transient() {
            tracing::error!(records = outcome.failed.len(), %error, "store write failed after retries");
        } else {
            outcome.halt = Some(error);
        }
        return outcome;
    }
    outcome.stored = processed;
    outcome.digest = Some(Digest { items, feeds });
    outcome
}

/// Step 3, stored messages on the consumer: deletes them. A failure is logged: they are
/// delivered again and overwritten with the same key (and e-mailed again). One that trying again
/// cannot fix is returned instead: redelivering would never end.
async fn delete_stored(stages: &Stages, stored: &[Received]) -> Option<QueueError> {
    if stored.is_empty() {
        return None;
    }
    let receipts: Vec<&str> = stored.iter().map(|m| m.receipt.as_str()).collect();
    match stages.queue.delete_batch(&receipts).await {
        Err(error) if !error.is_transient() => Some(error),
        Err(error) => {
            tracing::warn!(%error, "stored records could not be deleted from the queue; they will be stored again");
            None
        }
        Ok(()) => None,
    }
}

/// Step 3, poison messages: makes them visible again at once, so they reach the dead-letter
/// queue after `max_receive_count` quick deliveries instead of one visibility timeout each
/// (on Lambda, six times the function timeout). A failure only delays that, so it is logged;
/// one that trying again cannot fix is returned (the queue cannot record progress).
async fn release_poison(stages: &Stages, poison: &[(Received, String)]) -> Option<QueueError> {
    if poison.is_empty() {
        return None;
    }
    let failed: Vec<(&str, &str)> = poison
        .iter()
        .map(|(m, reason)| (m.receipt.as_str(), reason.as_str()))
        .collect();
    match stages.queue.release(&failed).await {
        Err(error) if !error.is_transient() => Some(error),
        Err(error) => {
            tracing::warn!(%error, "poison records could not be released; they come back after the visibility timeout");
            None
        }
        Ok(()) => None,
    }
}

/// Step 2: sends the digest of a batch's stored items and says where it went. A failure is
/// logged, never returned: the records are stored, and failing the batch would only store them
/// again.
async fn send_digest(stages: &Stages, digest: &Digest) -> Option<String> {
    let (Some(templates), Some(notifier)) = (&stages.templates, &stages.notifier) else {
        return None;
    };
    let items = &digest.items;
    let records: Vec<StoredRecord<'_>> = items
        .iter()
        .zip(&digest.feeds)
        .map(|(item, feed)| StoredRecord { item, feed })
        .collect();
    let email = match templates.render(&records) {
        Ok(email) => email,
        Err(error) => {
            tracing::error!(%error, "cannot render the e-mail; records are stored");
            return None;
        }
    };
    let send = || notifier.send(&email);
    match send
        .retry(email_retry())
        .notify(|error, wait| {
            tracing::warn!(%error, retry_in = ?wait, "e-mail not sent; retrying");
        })
        .await
    {
        Ok(sent_to) => {
            tracing::info!(records = items.len(), to = %sent_to, "e-mail sent");
            Some(sent_to)
        }
        Err(error) => {
            tracing::error!(%error, "e-mail not sent after retries; records are stored");
            None
        }
    }
}

//! One batch of queued messages → processed and stored ([`store_batch`]), then the digest
//! e-mailed ([`send_digest`]). The single code path shared by the local consumer and the Lambda
//! SQS handler: it decides what happened to each message and leaves deleting (or reporting
//! `batchItemFailures`) to the caller. Both e-mail before the stored messages are deleted (the
//! consumer deletes them itself, the Lambda event source mapping after the handler returns), so
//! a process that dies in between leaves the batch to be stored and e-mailed again: e-mail is
//! at least once, like everything else.

use std::collections::HashMap;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use serde_json::{Map, Value};

use super::{Stages, backoff};
use crate::notify::render::StoredRecord;
use crate::process::Key;
use crate::queue::Received;
use crate::store::Item;

/// What became of each message of a batch.
#[derive(Debug, Default)]
pub struct BatchOutcome {
    /// Messages whose record is stored: delete them.
    pub stored: Vec<Received>,
    /// Poison messages with the reason: release them for redelivery (then the dead-letter queue).
    pub poison: Vec<(Received, String)>,
    /// Messages whose record could not be stored: retry them or leave them to be delivered again.
    pub failed: Vec<Received>,
    /// What the digest e-mail is about: the stored items, when any were stored.
    pub digest: Option<Digest>,
}

/// The stored items of a batch and their feeds, for the digest e-mail.
#[derive(Debug, Default)]
pub struct Digest {
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

/// Processes and stores one batch. Never fails as a whole: each message ends up in exactly one
/// of the outcome's lists.
pub async fn store_batch(stages: &Stages, messages: Vec<Received>) -> BatchOutcome {
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
                    reason = %stages.redactor.redact(&poison.reason),
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
        .notify(|error, wait| {
            tracing::warn!(error = %stages.redactor.redact(&error.to_string()), retry_in = ?wait, "store write failed; retrying");
        })
        .await;
    if let Err(error) = written {
        tracing::error!(
            records = processed.len(),
            error = %stages.redactor.redact(&error.to_string()),
            "store write failed after retries"
        );
        outcome.failed = processed;
        return outcome;
    }
    outcome.stored = processed;
    outcome.digest = Some(Digest { items, feeds });
    outcome
}

/// Makes poison messages visible again at once, so they reach the dead-letter queue after
/// `max_receive_count` quick deliveries instead of one visibility timeout each. A failure only
/// delays that, so it is logged.
pub async fn release_poison(stages: &Stages, poison: &[(Received, String)]) {
    if poison.is_empty() {
        return;
    }
    let failed: Vec<(&str, &str)> = poison
        .iter()
        .map(|(m, reason)| (m.receipt.as_str(), reason.as_str()))
        .collect();
    if let Err(error) = stages.queue.release(&failed).await {
        tracing::warn!(error = %stages.redactor.redact(&error.to_string()), "poison records could not be released; they come back after the visibility timeout");
    }
}

/// Sends the digest of a batch's stored items and says where it went. A failure is logged, never
/// returned: the records are stored, and failing the batch would only store them again.
pub async fn send_digest(stages: &Stages, digest: &Digest) -> Option<String> {
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
            tracing::error!(error = %stages.redactor.redact(&error.to_string()), "cannot render the e-mail; records are stored");
            return None;
        }
    };
    let send = || notifier.send(&email);
    match send
        .retry(email_retry())
        .notify(|error, wait| {
            tracing::warn!(error = %stages.redactor.redact(&error.to_string()), retry_in = ?wait, "e-mail not sent; retrying");
        })
        .await
    {
        Ok(sent_to) => {
            tracing::info!(records = items.len(), to = %sent_to, "e-mail sent");
            Some(sent_to)
        }
        Err(error) => {
            tracing::error!(error = %stages.redactor.redact(&error.to_string()), "e-mail not sent after retries; records are stored");
            None
        }
    }
}

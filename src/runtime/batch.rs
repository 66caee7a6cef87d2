//! The one batch lifecycle, shared by the local consumer and the Lambda SQS handler:
//! [`handle_batch`] takes the messages a queue delivered and, in this order,
//!
//! 1. **processes and stores** them (`store_batch`): each message becomes a stored record, a
//!    poison one (with the reason) or a failed one (the store write failed after retries);
//! 2. **e-mails the digest** of what was stored (`send_digest`), retried; every attempt has an
//!    overall deadline (`notify.timeout`), whatever the notifier; a failure after the retries is
//!    logged and counted, never returned, because the records are stored. A stop request (a
//!    signal, or a Lambda invocation's deadline drawing near) starts no new attempt and abandons
//!    the one in flight after [`STOP_GRACE`]: the e-mail is *cut*, and the batch's stored
//!    messages are not acknowledged (step 3 gives them back instead), so they are delivered,
//!    stored (by key) and e-mailed again;
//! 3. **acknowledges**: the stored messages are done (the consumer deletes them, at once, in
//!    the transaction that receives its next batch; on Lambda the event source mapping deletes
//!    what the response does not list), poison is released for
//!    redelivery at once so it reaches the dead-letter queue after `max_receive_count` quick
//!    deliveries, and the failed messages are given back to the caller (the consumer holds and
//!    retries them; the Lambda handler lists them in `batchItemFailures`).
//!
//! The two callers differ only in how stored messages are acknowledged, the [`Acknowledge`]
//! they pass, and in what they do with a [`Halt`] (a failure trying again cannot fix): the
//! consumer stops; the Lambda handler cannot stop the event source mapping, so it logs the halt
//! and lists the failed and poison messages in `batchItemFailures`. The order keeps
//! RELIABILITY.md's guarantees: nothing is e-mailed before it is stored (a record that could
//! still be lost is in no e-mail), nothing is deleted before it is stored and e-mailed, and a
//! process that dies anywhere before step 3 leaves the batch to be delivered, stored
//! (overwritten, by key) and e-mailed again: e-mail is at least once, never not at all.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use backon::{BackoffBuilder, Retryable};
use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;

use super::Stages;
use super::alerts;
use crate::alert::Alert;
use crate::notify::render::StoredRecord;
use crate::notify::{Email, Notifier, NotifyError};
use crate::process::Key;
use crate::queue::{QueueError, Received};
use crate::retry::{email as email_retry, store_write as store_retry};
use crate::store::item::same_values;
use crate::store::{Item, StoreError};

/// How the queue learns that a batch's stored messages are done: the one difference between the
/// consumer and the Lambda handler. Poison is released through the queue either way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Acknowledge {
    /// Delete them through the queue.
    Delete,
    /// Hand them back in [`Settled::done`]: the caller deletes them at once, with its next
    /// receive ([`crate::queue::Queue::delete_and_receive`], one transaction on the embedded
    /// queue). The local consumer.
    WithNextReceive,
    /// Leave them out of the response: the Lambda event source mapping deletes every message the
    /// handler does not list in `batchItemFailures`, once the handler has returned.
    Unlisted,
}

/// How long the e-mail attempt in flight may still run once a stop is requested, before it is
/// abandoned: time for a healthy server to finish (and spare a duplicate e-mail), a bound for a
/// hanging one.
pub const STOP_GRACE: Duration = Duration::from_secs(3);

/// The per-attempt deadline when the pipeline sends no e-mail (never used then).
const NO_TIMEOUT: Duration = Duration::from_secs(10);

/// What became of a batch's digest e-mail.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Emailed {
    /// No e-mail was due: the pipeline sends none, or nothing was stored.
    #[default]
    NotDue,
    /// The digest was sent.
    Sent,
    /// The digest could not be rendered, or every attempt failed or timed out: logged; the
    /// records are stored and acknowledged, the e-mail is not sent.
    NotSent,
    /// A stop request cut the e-mail short: the stored messages are not acknowledged, so they
    /// are delivered, stored and e-mailed again.
    Cut,
}

/// What became of a batch once it went through [`handle_batch`].
#[derive(Debug, Default)]
pub struct Settled {
    /// Records stored (and acknowledged as [`Acknowledge`] says, unless the e-mail was cut).
    pub stored: usize,
    /// With [`Acknowledge::WithNextReceive`]: the stored messages the caller must delete (empty
    /// otherwise, and when the e-mail was cut).
    pub done: Vec<Received>,
    /// Poison messages, released for redelivery (then the dead-letter queue).
    pub poison: Vec<Received>,
    /// Messages whose record could not be stored: the caller gives them back (the consumer holds
    /// and retries them, the Lambda handler lists them).
    pub failed: Vec<Received>,
    /// Stored messages whose e-mail was cut short by a stop: not acknowledged (the consumer
    /// releases them, the Lambda handler lists them), so they are delivered again.
    pub unmailed: Vec<Received>,
    /// What became of the digest e-mail.
    pub emailed: Emailed,
    /// Alerts the batch raised (committed to the ledger and its outbox).
    pub alerts_raised: usize,
    /// Alerts mailed by the batch itself (without a digest); the rest wait in the outbox.
    pub alerts_mailed: usize,
    /// Set when the queue or the store failed in a way trying again cannot fix (a damaged state
    /// file, a full disk): the consumer must stop, or it would store and e-mail the same records
    /// again and again; the Lambda handler, which cannot stop, logs it.
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
    /// The ids of the messages the queue must deliver again, poison, failed and those whose
    /// e-mail was cut: what a Lambda response lists in `batchItemFailures`. A stored message
    /// whose e-mail was sent (or failed for good) is never among them.
    pub fn redelivered_ids(&self) -> impl Iterator<Item = &str> {
        self.failed
            .iter()
            .chain(&self.poison)
            .chain(&self.unmailed)
            .map(|message| message.id.as_str())
    }
}

/// Runs one batch through the lifecycle: store, e-mail the digest, acknowledge (see the module
/// doc for the order and why). Never fails as a whole: each message ends up stored, poison or
/// failed, and every queue or e-mail failure is logged. `stop` cuts the e-mail step short (within
/// [`STOP_GRACE`]); the stored messages are then given back instead of acknowledged.
pub async fn handle_batch(
    stages: &Stages,
    messages: Vec<Received>,
    acknowledge: Acknowledge,
    stop: &CancellationToken,
) -> Settled {
    let mut outcome = store_batch(stages, messages).await;
    let raised = raise_alerts(stages, &mut outcome).await;
    let emailed = match &outcome.digest {
        Some(digest) => send_digest(stages, digest, stop).await,
        None => Emailed::NotDue,
    };
    let alerts_mailed = match &stages.alerts {
        Some(stage) if stage.rules.digest.is_none() && !raised.is_empty() => {
            alerts::mail(stages, stage, &raised, stop).await
        }
        _ => 0,
    };
    let stored = outcome.stored.len();
    let (done, unmailed) = if emailed == Emailed::Cut {
        tracing::warn!(
            records = stored,
            "e-mail cut short by a stop: the stored records are not acknowledged; they are \
             delivered again, stored again (same key) and e-mailed by the next run"
        );
        (Vec::new(), outcome.stored)
    } else {
        (outcome.stored, Vec::new())
    };
    let mut halt = outcome.halt.map(Halt::Store);
    let done = match acknowledge {
        Acknowledge::Delete => {
            halt = halt.or(delete_stored(stages, &done).await.map(Halt::Queue));
            Vec::new()
        }
        Acknowledge::WithNextReceive => done,
        Acknowledge::Unlisted => Vec::new(),
    };
    if acknowledge != Acknowledge::Unlisted {
        release_unmailed(stages, &unmailed).await;
    }
    halt = halt.or(release_poison(stages, &outcome.poison)
        .await
        .map(Halt::Queue));
    crate::metrics::batch_settled(
        &stages.pipeline.name.value,
        stored,
        outcome.poison.len(),
        usize::from(emailed == Emailed::Sent) + alerts_mailed,
        usize::from(emailed == Emailed::NotSent),
    );
    Settled {
        stored,
        done,
        poison: outcome
            .poison
            .into_iter()
            .map(|(message, _)| message)
            .collect(),
        failed: outcome.failed,
        unmailed,
        emailed,
        alerts_raised: raised.len(),
        alerts_mailed,
        halt,
    }
}

/// Step 1b: evaluates the alert rules over the stored records and commits what they raised (see
/// `runtime::alerts`). When that fails the stored messages are not acknowledged: they are given
/// back with the failed ones, delivered again, stored again (same key) and evaluated again, so
/// no alert is lost. Returns the alerts raised.
async fn raise_alerts(stages: &Stages, outcome: &mut BatchOutcome) -> Vec<Alert> {
    let (Some(stage), Some(digest)) = (&stages.alerts, &outcome.digest) else {
        return Vec::new();
    };
    match alerts::raise(stages, stage, &digest.items, stages.clock.now()).await {
        Ok(raised) => raised,
        Err(error) => {
            let records = outcome.stored.len();
            tracing::error!(%error, records, "alert rules could not be evaluated and committed; the stored records are given back, to be evaluated again");
            if let alerts::RaiseError::Store(store) = error
                && !store.is_transient()
            {
                outcome.halt = outcome.halt.take().or(Some(store));
            }
            outcome.failed.append(&mut outcome.stored);
            outcome.digest = None;
            Vec::new()
        }
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

/// The stored items of a batch and their feeds, for the alert rules and the batch e-mail.
#[derive(Debug, Default)]
struct Digest {
    items: Vec<Item>,
    feeds: Vec<Map<String, Value>>,
    /// Per item, whether it is new or changed (the batch e-mail lists only those): false for
    /// an item whose key was stored before with the same values.
    fresh: Vec<bool>,
}

/// Step 1: processes and stores one batch. Never fails as a whole: each message ends up in
/// exactly one of the outcome's lists.
async fn store_batch(stages: &Stages, messages: Vec<Received>) -> BatchOutcome {
    let mut outcome = BatchOutcome::default();
    let inserted_at = stages
        .clock
        .now()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mut items: Vec<Item> = Vec::with_capacity(messages.len());
    let mut feeds: Vec<Map<String, Value>> = Vec::with_capacity(messages.len());
    let mut processed: Vec<Received> = Vec::with_capacity(messages.len());
    // Per item: whether a message of it was delivered before (its mail may not have gone out).
    let mut redelivered: Vec<bool> = Vec::with_capacity(messages.len());
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
                        redelivered[slot] |= message.receive_count > 1;
                    }
                    None => {
                        slot_of_key.insert(record.key, items.len());
                        items.push(item);
                        feeds.push(record.feed);
                        redelivered.push(message.receive_count > 1);
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
    let fresh = fresh_items(stages, &items, &redelivered).await;
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
    outcome.digest = Some(Digest {
        items,
        feeds,
        fresh,
    });
    outcome
}

/// Which of `items` are new or changed: read before they are written, and only when the
/// pipeline mails its batches (one read per batch). An item whose key is stored with the same
/// values (its insert time aside) is not: a poll of unchanged data mails nothing. A redelivered
/// one (`redelivered`: a message of it was received before) always is: the delivery before may
/// have stored it and died before its mail, and the batch mail is at least once. When the read
/// fails every item counts as new (a mail too many, never one too few).
async fn fresh_items(stages: &Stages, items: &[Item], redelivered: &[bool]) -> Vec<bool> {
    let mails_batches = stages
        .templates
        .as_ref()
        .is_some_and(|templates| templates.mails_batches());
    if !mails_batches {
        return vec![true; items.len()];
    }
    let keys: Vec<(String, Option<String>)> = items
        .iter()
        .map(|item| (item.partition.clone(), item.sort.clone()))
        .collect();
    let existing = match stages.store.existing(&keys).await {
        Ok(existing) => existing,
        Err(error) => {
            tracing::warn!(%error, "cannot read which records are stored already; every record counts as new");
            return vec![true; items.len()];
        }
    };
    let inserted_at = stages.pipeline.store.inserted_at.as_str();
    let stored: HashMap<(&str, Option<&str>), &Item> = existing
        .iter()
        .map(|item| ((item.partition.as_str(), item.sort.as_deref()), item))
        .collect();
    items
        .iter()
        .zip(redelivered)
        .map(|(item, redelivered)| {
            *redelivered
                || stored
                    .get(&(item.partition.as_str(), item.sort.as_deref()))
                    .is_none_or(|old| !same_values(&old.attributes, &item.attributes, inserted_at))
        })
        .collect()
}

/// Step 3, stored messages on the consumer: deletes them. A failure is logged: they are
/// delivered again and overwritten with the same key (and e-mailed again). One that trying again
/// cannot fix is returned instead: redelivering would never end.
pub(super) async fn delete_stored(stages: &Stages, stored: &[Received]) -> Option<QueueError> {
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

/// Step 3, stored messages whose e-mail was cut, on the consumer: makes them visible again at
/// once, so the next run (or another consumer) stores and e-mails them without waiting out the
/// visibility timeout. A failure only delays that, so it is logged.
async fn release_unmailed(stages: &Stages, unmailed: &[Received]) {
    if unmailed.is_empty() {
        return;
    }
    let reason = "e-mail cut short by a stop: stored, to be e-mailed again";
    let receipts: Vec<(&str, &str)> = unmailed
        .iter()
        .map(|m| (m.receipt.as_str(), reason))
        .collect();
    if let Err(error) = stages.queue.release(&receipts).await {
        tracing::warn!(%error, "the stored records whose e-mail was cut could not be released; they come back after the visibility timeout");
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

/// Step 2: sends the digest of a batch's new or changed items and says what became of it. A
/// failure is logged, never returned: the records are stored, and failing the batch would only
/// store them again.
async fn send_digest(stages: &Stages, digest: &Digest, stop: &CancellationToken) -> Emailed {
    let (Some(templates), Some(notifier)) = (&stages.templates, &stages.notifier) else {
        return Emailed::NotDue;
    };
    let records: Vec<StoredRecord<'_>> = digest
        .items
        .iter()
        .zip(&digest.feeds)
        .zip(&digest.fresh)
        .filter(|(_, fresh)| **fresh)
        .map(|((item, feed), _)| StoredRecord { item, feed })
        .collect();
    if !templates.mails_batches() || records.is_empty() {
        return Emailed::NotDue;
    }
    let mut email = match templates.render(&records) {
        Ok(email) => email,
        Err(error) => {
            tracing::error!(%error, "cannot render the e-mail; records are stored");
            return Emailed::NotSent;
        }
    };
    let series: Vec<&str> = records
        .iter()
        .map(|record| record.item.partition.as_str())
        .collect();
    super::chart::attach(stages, &mut email, &series, stages.clock.now()).await;
    let emailed = deliver(
        stages,
        notifier.as_ref(),
        &email,
        stop,
        "records are stored",
    )
    .await;
    if emailed == Emailed::Sent {
        tracing::info!(records = records.len(), "batch e-mail sent");
    }
    emailed
}

/// Sends one e-mail, retried, and says what became of it. Every attempt, whatever the notifier,
/// has `notify.timeout` in all: a server that accepts and never answers costs one timeout per
/// attempt, not the run. A stop starts no new attempt and abandons the one in flight after
/// [`STOP_GRACE`] ([`Emailed::Cut`]).
/// `kept` says in the final error what is kept when it is not sent (`records are stored`).
pub(super) async fn deliver(
    stages: &Stages,
    notifier: &dyn Notifier,
    email: &Email,
    stop: &CancellationToken,
    kept: &str,
) -> Emailed {
    let timeout = stages
        .pipeline
        .notify
        .as_ref()
        .map_or(NO_TIMEOUT, |notify| notify.timeout.value.0);
    let mut pauses = email_retry().build();
    loop {
        let attempt = async {
            tokio::time::timeout(timeout, notifier.send(email))
                .await
                .unwrap_or(Err(NotifyError::TimedOut(timeout)))
        };
        let error = match unless_stopped(attempt, stop).await {
            Some(Ok(sent_to)) => {
                tracing::info!(to = %sent_to, subject = %email.subject, "e-mail sent");
                return Emailed::Sent;
            }
            Some(Err(error)) => error,
            None => {
                tracing::warn!(grace = ?STOP_GRACE, "stopping: the e-mail attempt in flight is abandoned");
                return Emailed::Cut;
            }
        };
        if stop.is_cancelled() {
            tracing::warn!(%error, "stopping: the e-mail is not retried");
            return Emailed::Cut;
        }
        let Some(wait) = pauses.next() else {
            tracing::error!(%error, "e-mail not sent after retries; {kept}");
            return Emailed::NotSent;
        };
        tracing::warn!(%error, retry_in = ?wait, "e-mail not sent; retrying");
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = stop.cancelled() => {
                tracing::warn!("stopping: the e-mail is not retried");
                return Emailed::Cut;
            }
        }
    }
}

/// Runs `attempt` to its end, unless a stop is requested first: it then gets [`STOP_GRACE`]
/// more, and `None` when it has not finished by then (it is dropped: abandoned).
async fn unless_stopped<F: Future>(attempt: F, stop: &CancellationToken) -> Option<F::Output> {
    tokio::pin!(attempt);
    tokio::select! {
        output = &mut attempt => return Some(output),
        () = stop.cancelled() => {}
    }
    tokio::time::timeout(STOP_GRACE, attempt).await.ok()
}

#[cfg(test)]
mod tests;

//! The queue stage: between the poller and the processor. One trait; `local` is a table in
//! SQLite, the AWS one is SQS. Delivery is at least once: a message stays until it is deleted,
//! and one received too often moves to the dead-letter queue.

pub mod local;
pub mod sqs;

use std::time::Duration;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use crate::sqlite_error::SqliteError;

/// The most messages one send, receive or delete call handles (the SQS batch limit, which is
/// also the largest `queue.batch_size`).
pub const MAX_BATCH: usize = crate::config::model::MAX_BATCH_SIZE as usize;

/// The longest one receive waits for a first message: SQS long polling's maximum
/// (ReceiveMessage `WaitTimeSeconds`), and the consumer's long poll on either queue.
pub const MAX_WAIT: Duration = Duration::from_secs(20);

/// The longest a received message can stay hidden: SQS's largest visibility timeout (12 hours).
/// A longer one is cut to it on receive and extend; a template that would need more is refused.
pub const MAX_VISIBILITY: Duration = Duration::from_secs(12 * 60 * 60);

/// A message handed to a consumer, invisible to others until deleted or its visibility ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// The message id, stable across deliveries (the id Lambda reports in `batchItemFailures`).
    pub id: String,
    /// The handle for deleting or releasing this delivery.
    pub receipt: String,
    /// The message body (a JSON [`crate::message::Message`]).
    pub body: String,
    /// How many times the message has been delivered, this delivery included.
    pub receive_count: u32,
}

/// A message that was dead-lettered, for `stockrun show --dead` and tests (the embedded queue
/// keeps the last reason; the SQS one cannot, see `sqs::peek`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadLetter {
    /// The message id.
    pub id: String,
    /// The message body.
    pub body: String,
    /// How many times it was delivered.
    pub receive_count: u32,
    /// The last reason it could not be processed, when one was given.
    pub last_error: Option<String>,
}

/// Messages in the queue, by state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueCounts {
    /// Waiting to be received.
    pub visible: u64,
    /// Received and not yet deleted.
    pub in_flight: u64,
    /// In the dead-letter queue.
    pub dead: u64,
}

impl QueueCounts {
    /// Nothing is waiting or in flight.
    pub fn is_drained(&self) -> bool {
        self.visible == 0 && self.in_flight == 0
    }
}

/// Why a queue operation failed.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The embedded database failed (the error names the file and says what happened, once).
    #[error("local queue: {0}")]
    Sqlite(SqliteError),
    /// A blocking task was cancelled or panicked.
    #[error("local queue task failed: {0}")]
    Task(String),
    /// SQS refused or could not be reached (the SDK's error with its causes; never credentials).
    #[error("SQS: {0}")]
    Aws(String),
    /// A message is over the queue's size limit; it can never be sent.
    #[error(
        "a message of {bytes} bytes is over the queue limit of {limit} bytes ({kib} KiB, SQS's limit)",
        kib = MAX_MESSAGE_KIB
    )]
    TooLarge {
        /// The message's size.
        bytes: usize,
        /// The largest message the queue takes.
        limit: usize,
    },
}

impl QueueError {
    /// Whether trying again can help. Not for a damaged state file or a full disk (a consumer
    /// that went on would store and e-mail the same records again and again), nor for a message
    /// over the size limit.
    pub fn is_transient(&self) -> bool {
        match self {
            QueueError::Sqlite(error) => error.is_transient(),
            QueueError::TooLarge { .. } => false,
            QueueError::Task(_) | QueueError::Aws(_) => true,
        }
    }
}

/// The largest message body a queue takes: SQS's limit (256 KiB), enforced by the embedded
/// queue too, so a pipeline that runs locally also runs on AWS. SQS takes no more in one
/// SendMessageBatch either (the sum of its bodies), so the SQS queue splits sends by it.
pub const MAX_MESSAGE_BYTES: usize = MAX_MESSAGE_KIB * 1024;

/// [`MAX_MESSAGE_BYTES`] in KiB, as messages and counters write it.
pub const MAX_MESSAGE_KIB: usize = 256;

/// Refuses a batch holding a body over [`MAX_MESSAGE_BYTES`], before anything is sent.
pub fn check_message_sizes(bodies: &[String]) -> Result<(), QueueError> {
    match bodies.iter().find(|body| body.len() > MAX_MESSAGE_BYTES) {
        Some(body) => Err(QueueError::TooLarge {
            bytes: body.len(),
            limit: MAX_MESSAGE_BYTES,
        }),
        None => Ok(()),
    }
}

/// Sends, receives and deletes messages.
#[async_trait]
pub trait Queue: Send + Sync {
    /// Enqueues up to [`MAX_BATCH`] message bodies; all are durable when this returns `Ok`.
    async fn send_batch(&self, bodies: &[String]) -> Result<(), QueueError>;

    /// Receives up to `max` messages, waiting at most `wait` for the first one, and stops
    /// *waiting* early when `stop` is cancelled, if the backend can (an SQS long poll, at most
    /// 20 s, cannot). It is never cut short while messages are being taken, so none is left
    /// received but unhandled. Messages delivered `max_receive_count` times already go to the
    /// dead-letter queue instead.
    async fn receive_until(
        &self,
        max: usize,
        wait: Duration,
        stop: &CancellationToken,
    ) -> Result<Vec<Received>, QueueError>;

    /// [`Queue::receive_until`] without a stop: waits the whole `wait` when nothing comes.
    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Received>, QueueError> {
        self.receive_until(max, wait, &CancellationToken::new())
            .await
    }

    /// Deletes delivered messages (after their records are stored).
    async fn delete_batch(&self, receipts: &[&str]) -> Result<(), QueueError>;

    /// [`Queue::delete_batch`] of `done`, then [`Queue::receive_until`]: what a consumer does
    /// between two batches. The embedded queue deletes and takes the first messages in one
    /// transaction (both or neither: a process killed meanwhile has deleted nothing, so the
    /// batch is delivered again, as when it dies just before a delete); the deletes are durable
    /// when this returns, received or not. On an error nothing was received, and the deletes may
    /// not have been made (those messages are delivered again and stored again, by key).
    async fn delete_and_receive(
        &self,
        done: &[&str],
        max: usize,
        wait: Duration,
        stop: &CancellationToken,
    ) -> Result<Vec<Received>, QueueError> {
        if !done.is_empty() {
            self.delete_batch(done).await?;
        }
        self.receive_until(max, wait, stop).await
    }

    /// Makes poison messages visible again at once, so they reach the dead-letter queue without
    /// waiting out their visibility timeout; `reason` is kept where the backend can keep it.
    async fn release(&self, failed: &[(&str, &str)]) -> Result<(), QueueError>;

    /// Keeps delivered messages hidden for `by` from now, for a batch held longer than the
    /// visibility timeout (a store outage), so it is not delivered again meanwhile. A receipt
    /// from an earlier delivery extends nothing.
    async fn extend_visibility(&self, receipts: &[&str], by: Duration) -> Result<(), QueueError>;

    /// How many messages are waiting, in flight and dead-lettered.
    async fn counts(&self) -> Result<QueueCounts, QueueError>;
}

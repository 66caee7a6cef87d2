//! The SQS queue: the pipeline's queue on AWS (or moto / LocalStack through `AWS_ENDPOINT_URL`).
//! Every call is a batch call (SendMessageBatch, ReceiveMessage of up to ten, DeleteMessageBatch,
//! ChangeMessageVisibilityBatch), and every batch result is checked entry by entry: SQS answers
//! HTTP 200 when some entries failed. Dead-lettering is the queue's redrive policy
//! (`stockrun init` sets it up from `queue.max_receive_count`). Here: the queue and its trait
//! calls; `send` splits and retries SendMessageBatch, `lookup` finds queue URLs and attributes,
//! `provision` creates the queue and its dead-letter queue for `stockrun init`, `peek` looks at
//! the dead-letter queue for `stockrun show --dead`.

mod lookup;
mod peek;
pub(crate) mod provision;
mod send;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::config::http::HttpResponse;
use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::types::{
    BatchResultErrorEntry, ChangeMessageVisibilityBatchRequestEntry,
    DeleteMessageBatchRequestEntry, MessageSystemAttributeName, QueueAttributeName,
};
use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;

pub(crate) use self::lookup::dead_letter_arn;
use self::lookup::queue_url;
pub use self::peek::DeadLetters;
use self::send::send_chunks;
use super::{
    MAX_BATCH, MAX_VISIBILITY, MAX_WAIT, Queue, QueueCounts, QueueError, Received,
    check_message_sizes,
};
use crate::aws::{Aws, sdk_error_message};
use crate::config::Pipeline;
use crate::naming::queue_name;

/// The queue `queue.name` (or `queue.url`) of a pipeline, in SQS.
pub struct SqsQueue {
    aws: Arc<Aws>,
    name: String,
    url: OnceCell<String>,
    visibility_timeout: Option<Duration>,
    /// The dead-letter queue last resolved from the redrive policy: its ARN and URL.
    dead_letter: Mutex<Option<(String, String)>>,
}

impl SqsQueue {
    /// The pipeline's queue. Nothing is sent until the first call: the URL is `queue.url`, or
    /// looked up by name once. `visibility_timeout` overrides the queue's own for every receive;
    /// `None` keeps the queue's setting.
    pub fn new(
        aws: Arc<Aws>,
        pipeline: &Pipeline,
        visibility_timeout: Option<Duration>,
    ) -> SqsQueue {
        SqsQueue {
            aws,
            name: queue_name(pipeline),
            url: OnceCell::new_with(pipeline.queue.url.as_ref().map(|url| url.value.clone())),
            visibility_timeout,
            dead_letter: Mutex::new(None),
        }
    }

    /// The queue's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The queue URL, looked up (GetQueueUrl) on first use.
    pub async fn url(&self) -> Result<&str, QueueError> {
        self.url
            .get_or_try_init(|| async {
                Ok::<_, QueueError>(queue_url(&self.aws, &self.name, None).await?)
            })
            .await
            .map(String::as_str)
    }

    /// Makes `call` on every receipt, in batch calls of at most ten entries; every failed
    /// entry is logged and the failures become one error.
    async fn by_receipt(&self, call: ReceiptCall, receipts: &[&str]) -> Result<(), QueueError> {
        if receipts.is_empty() {
            return Ok(());
        }
        let url = self.url().await?;
        let client = self.aws.sqs().await;
        let mut failures = Vec::new();
        for chunk in receipts.chunks(MAX_BATCH) {
            // An entry's id is its index in the chunk; SQS names failed entries by it.
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, receipt)| (i.to_string(), *receipt));
            let failed = match call {
                ReceiptCall::Delete => client
                    .delete_message_batch()
                    .queue_url(url)
                    .set_entries(Some(
                        entries
                            .map(|(id, receipt)| delete_entry(id, receipt))
                            .collect(),
                    ))
                    .send()
                    .await
                    .map(|output| output.failed)
                    .map_err(|error| self.error(call.operation(), &error)),
                ReceiptCall::ChangeVisibility(seconds) => client
                    .change_message_visibility_batch()
                    .queue_url(url)
                    .set_entries(Some(
                        entries
                            .map(|(id, receipt)| visibility_entry(id, receipt, seconds))
                            .collect(),
                    ))
                    .send()
                    .await
                    .map(|output| output.failed)
                    .map_err(|error| self.error(call.operation(), &error)),
            }?;
            failures.extend(failed.iter().map(describe_failure));
        }
        self.check_failures(call.operation(), receipts.len(), failures)
    }

    /// A failed `operation` as a queue error: the queue, the call and what AWS said.
    fn error<E>(&self, operation: &str, error: &SdkError<E, HttpResponse>) -> QueueError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        QueueError::Aws(format!(
            "queue `{}`: {operation}: {}",
            self.name,
            sdk_error_message(error)
        ))
    }

    /// Logs each failed entry and turns them into one error; `Ok` when there are none.
    fn check_failures(
        &self,
        operation: &str,
        total: usize,
        failures: Vec<String>,
    ) -> Result<(), QueueError> {
        if failures.is_empty() {
            return Ok(());
        }
        for failure in &failures {
            tracing::warn!(queue = %self.name, operation, entry = %failure, "SQS batch entry failed");
        }
        Err(QueueError::Aws(format!(
            "queue `{}`: {operation}: {} of {total} entries failed: {}",
            self.name,
            failures.len(),
            failures.join("; ")
        )))
    }
}

#[async_trait]
impl Queue for SqsQueue {
    async fn send_batch(&self, bodies: &[String]) -> Result<(), QueueError> {
        check_message_sizes(bodies)?;
        if bodies.is_empty() {
            return Ok(());
        }
        let url = self.url().await?;
        for range in send_chunks(bodies) {
            self.send_chunk(url, range.start, &bodies[range]).await?;
        }
        Ok(())
    }

    /// One ReceiveMessage long poll; `_stop` is not looked at, as SQS cannot cut a long poll
    /// (at most 20 s) short.
    async fn receive_until(
        &self,
        max: usize,
        wait: Duration,
        _stop: &CancellationToken,
    ) -> Result<Vec<Received>, QueueError> {
        let url = self.url().await?;
        let max = i32::try_from(max.clamp(1, MAX_BATCH)).unwrap_or(MAX_BATCH as i32);
        // Whole seconds, at most MAX_WAIT's: the conversion cannot fail.
        let wait = i32::try_from(wait.min(MAX_WAIT).as_secs()).unwrap_or_default();
        let mut request = self
            .aws
            .sqs()
            .await
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(max)
            .wait_time_seconds(wait)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount);
        if let Some(visibility) = self.visibility_timeout {
            request = request.visibility_timeout(whole_seconds_up(visibility.min(MAX_VISIBILITY)));
        }
        let output = request
            .send()
            .await
            .map_err(|error| self.error("ReceiveMessage", &error))?;
        output
            .messages()
            .iter()
            .map(|message| {
                let missing = |what: &str| {
                    QueueError::Aws(format!(
                        "queue `{}`: ReceiveMessage returned a message without {what}",
                        self.name
                    ))
                };
                Ok(Received {
                    id: message
                        .message_id()
                        .ok_or_else(|| missing("a message id"))?
                        .to_owned(),
                    receipt: message
                        .receipt_handle()
                        .ok_or_else(|| missing("a receipt handle"))?
                        .to_owned(),
                    body: message.body().unwrap_or_default().to_owned(),
                    receive_count: message
                        .attributes()
                        .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                        .and_then(|count| count.parse().ok())
                        .unwrap_or(1),
                })
            })
            .collect()
    }

    async fn delete_batch(&self, receipts: &[&str]) -> Result<(), QueueError> {
        self.by_receipt(ReceiptCall::Delete, receipts).await
    }

    async fn release(&self, failed: &[(&str, &str)]) -> Result<(), QueueError> {
        if failed.is_empty() {
            return Ok(());
        }
        // SQS keeps no reason with a message: the consumer has logged each one (redacted).
        tracing::debug!(queue = %self.name, messages = failed.len(), "released for redelivery; the redrive policy dead-letters them after max_receive_count");
        let receipts: Vec<&str> = failed.iter().map(|(receipt, _)| *receipt).collect();
        self.by_receipt(ReceiptCall::ChangeVisibility(0), &receipts)
            .await
    }

    async fn extend_visibility(&self, receipts: &[&str], by: Duration) -> Result<(), QueueError> {
        let seconds = whole_seconds_up(by.min(MAX_VISIBILITY));
        self.by_receipt(ReceiptCall::ChangeVisibility(seconds), receipts)
            .await
    }

    async fn counts(&self) -> Result<QueueCounts, QueueError> {
        let url = self.url().await?;
        let attributes = self
            .attributes(
                url,
                &[
                    QueueAttributeName::ApproximateNumberOfMessages,
                    QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
                    QueueAttributeName::RedrivePolicy,
                ],
            )
            .await?;
        let number = |name: &QueueAttributeName| {
            attributes
                .get(name)
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(0)
        };
        let mut counts = QueueCounts {
            visible: number(&QueueAttributeName::ApproximateNumberOfMessages),
            in_flight: number(&QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
            dead: 0,
        };
        if let Some(arn) = attributes
            .get(&QueueAttributeName::RedrivePolicy)
            .and_then(|policy| dead_letter_arn(policy))
        {
            let dead_url = self.dead_letter_url(&arn).await?;
            let dead = self
                .attributes(
                    &dead_url,
                    &[
                        QueueAttributeName::ApproximateNumberOfMessages,
                        QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
                    ],
                )
                .await?;
            // Dead letters someone is looking at (received from the DLQ) are still dead.
            counts.dead = dead.values().filter_map(|n| n.parse::<u64>().ok()).sum();
        }
        Ok(counts)
    }
}

/// A batch call made per receipt handle.
#[derive(Clone, Copy, Debug)]
enum ReceiptCall {
    /// DeleteMessageBatch: the messages are done with.
    Delete,
    /// ChangeMessageVisibilityBatch: hide the messages for this many seconds from now (0: at
    /// once visible again).
    ChangeVisibility(i32),
}

impl ReceiptCall {
    /// The SQS operation, for logs and errors.
    fn operation(self) -> &'static str {
        match self {
            ReceiptCall::Delete => "DeleteMessageBatch",
            ReceiptCall::ChangeVisibility(_) => "ChangeMessageVisibilityBatch",
        }
    }
}

/// The DeleteMessageBatch entry `id` for the receipt handle `receipt`.
fn delete_entry(id: String, receipt: &str) -> DeleteMessageBatchRequestEntry {
    DeleteMessageBatchRequestEntry::builder()
        .id(id)
        .receipt_handle(receipt)
        .build()
        .expect("the id and receipt handle are set")
}

/// The ChangeMessageVisibilityBatch entry `id`: hide `receipt`'s message `seconds` from now.
fn visibility_entry(
    id: String,
    receipt: &str,
    seconds: i32,
) -> ChangeMessageVisibilityBatchRequestEntry {
    ChangeMessageVisibilityBatchRequestEntry::builder()
        .id(id)
        .receipt_handle(receipt)
        .visibility_timeout(seconds)
        .build()
        .expect("the id and receipt handle are set")
}

/// One failed batch entry, for logs and errors: `id 3: InternalError: message (sender fault)`.
fn describe_failure(entry: &BatchResultErrorEntry) -> String {
    format!(
        "entry {}: {}{}{}",
        entry.id(),
        entry.code(),
        entry
            .message()
            .map(|m| format!(": {m}"))
            .unwrap_or_default(),
        if entry.sender_fault() {
            " (sender fault: not retried)"
        } else {
            " (SQS fault)"
        }
    )
}

/// Whole seconds, rounded up (a visibility timeout is never shortened).
fn whole_seconds_up(duration: Duration) -> i32 {
    let seconds = duration.as_secs() + u64::from(duration.subsec_nanos() > 0);
    i32::try_from(seconds).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests;

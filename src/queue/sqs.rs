//! The SQS queue: the pipeline's queue on AWS (or moto / LocalStack through `AWS_ENDPOINT_URL`).
//! Every call is a batch call (SendMessageBatch, ReceiveMessage of up to ten, DeleteMessageBatch,
//! ChangeMessageVisibilityBatch), and every batch result is checked entry by entry: SQS answers
//! HTTP 200 when some entries failed. Dead-lettering is the queue's redrive policy
//! (`stockrun init` sets it up from `queue.max_receive_count`).

use std::collections::HashSet;
use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::{
    BatchResultErrorEntry, ChangeMessageVisibilityBatchRequestEntry,
    DeleteMessageBatchRequestEntry, MessageSystemAttributeName, QueueAttributeName,
    SendMessageBatchRequestEntry,
};
use backon::BackoffBuilder;
use tokio::sync::OnceCell;

use super::{MAX_BATCH, Queue, QueueCounts, QueueError, Received};
use crate::aws::Aws;
use crate::config::Pipeline;
use crate::runtime::backend::queue_name;

/// The largest message SQS takes, and the largest total payload of one SendMessageBatch.
pub const MAX_PAYLOAD_BYTES: usize = 256 * 1024;

/// The longest long poll SQS allows (ReceiveMessage `WaitTimeSeconds`).
const MAX_WAIT: Duration = Duration::from_secs(20);

/// The longest visibility timeout SQS allows (12 hours).
const MAX_VISIBILITY: Duration = Duration::from_secs(12 * 60 * 60);

/// How entries that SQS reported as failed (on HTTP 200) are retried.
fn failed_entry_retry() -> backon::ExponentialBuilder {
    crate::runtime::backoff(Duration::from_millis(100), Duration::from_secs(2), 4)
}

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
            .get_or_try_init(|| queue_url(&self.aws, &self.name, None))
            .await
            .map(String::as_str)
    }

    /// Keeps received messages hidden `by` longer from now (ChangeMessageVisibilityBatch), for a
    /// batch whose processing outlasts the visibility timeout.
    pub async fn extend_visibility(
        &self,
        receipts: &[&str],
        by: Duration,
    ) -> Result<(), QueueError> {
        self.change_visibility(receipts, whole_seconds_up(by.min(MAX_VISIBILITY)))
            .await
    }

    async fn change_visibility(&self, receipts: &[&str], seconds: i32) -> Result<(), QueueError> {
        let url = self.url().await?;
        let client = self.aws.sqs().await;
        let mut failures = Vec::new();
        for chunk in receipts.chunks(MAX_BATCH) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, receipt)| {
                    ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(*receipt)
                        .visibility_timeout(seconds)
                        .build()
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|error| self.error("ChangeMessageVisibilityBatch", error))?;
            let output = client
                .change_message_visibility_batch()
                .queue_url(url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|error| self.error("ChangeMessageVisibilityBatch", error))?;
            failures.extend(output.failed().iter().map(describe_failure));
        }
        self.check_failures("ChangeMessageVisibilityBatch", receipts.len(), failures)
    }

    /// Sends one chunk (≤ 10 entries, ≤ 256 KiB); entries SQS reports as failed are sent again
    /// with backoff, unless SQS says they are at fault themselves.
    async fn send_chunk(
        &self,
        url: &str,
        first_id: usize,
        bodies: &[String],
    ) -> Result<(), QueueError> {
        let client = self.aws.sqs().await;
        let mut pending: Vec<(String, &str)> = bodies
            .iter()
            .enumerate()
            .map(|(i, body)| ((first_id + i).to_string(), body.as_str()))
            .collect();
        let mut delays = failed_entry_retry().build();
        loop {
            let entries = pending
                .iter()
                .map(|(id, body)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(id.as_str())
                        .message_body(*body)
                        .build()
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|error| self.error("SendMessageBatch", error))?;
            let output = client
                .send_message_batch()
                .queue_url(url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|error| self.error("SendMessageBatch", error))?;
            let failed = output.failed();
            if failed.is_empty() {
                return Ok(());
            }
            let retryable = failed.iter().all(|entry| !entry.sender_fault());
            match delays.next() {
                Some(delay) if retryable => {
                    tracing::warn!(
                        queue = %self.name,
                        failed = failed.len(),
                        of = pending.len(),
                        first = %describe_failure(&failed[0]),
                        retry_in = ?delay,
                        "SQS did not take every message of a batch; sending those again"
                    );
                    let ids: HashSet<&str> = failed.iter().map(BatchResultErrorEntry::id).collect();
                    pending.retain(|(id, _)| ids.contains(id.as_str()));
                    tokio::time::sleep(delay).await;
                }
                _ => {
                    let failures = failed.iter().map(describe_failure).collect();
                    let tries = if retryable {
                        "after retries"
                    } else {
                        "at once"
                    };
                    let operation = format!("SendMessageBatch ({tries})");
                    return self.check_failures(&operation, bodies.len(), failures);
                }
            }
        }
    }

    /// The dead-letter queue's URL, for the ARN the redrive policy names (looked up once per ARN).
    async fn dead_letter_url(&self, arn: &str) -> Result<String, QueueError> {
        if let Some((known, url)) = &*self.dead_letter.lock().unwrap_or_else(|e| e.into_inner())
            && known == arn
        {
            return Ok(url.clone());
        }
        let (account, name) = arn_account_and_name(arn).ok_or_else(|| {
            QueueError::Aws(format!(
                "queue `{}`: the redrive policy names `{arn}`, which is not an SQS queue ARN",
                self.name
            ))
        })?;
        let url = queue_url(&self.aws, name, account).await?;
        *self.dead_letter.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((arn.to_owned(), url.clone()));
        Ok(url)
    }

    fn error(&self, operation: &str, error: impl std::error::Error + 'static) -> QueueError {
        QueueError::Aws(format!(
            "queue `{}`: {operation}: {}",
            self.name,
            DisplayErrorContext(&error)
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
        if let Some(body) = bodies.iter().find(|body| body.len() > MAX_PAYLOAD_BYTES) {
            return Err(QueueError::TooLarge {
                bytes: body.len(),
                limit: MAX_PAYLOAD_BYTES,
            });
        }
        if bodies.is_empty() {
            return Ok(());
        }
        let url = self.url().await?;
        for range in send_chunks(bodies) {
            self.send_chunk(url, range.start, &bodies[range]).await?;
        }
        Ok(())
    }

    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Received>, QueueError> {
        let url = self.url().await?;
        let max = i32::try_from(max.clamp(1, MAX_BATCH)).unwrap_or(10);
        let wait = i32::try_from(wait.min(MAX_WAIT).as_secs()).unwrap_or(20);
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
            .map_err(|error| self.error("ReceiveMessage", error))?;
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
        if receipts.is_empty() {
            return Ok(());
        }
        let url = self.url().await?;
        let client = self.aws.sqs().await;
        let mut failures = Vec::new();
        for chunk in receipts.chunks(MAX_BATCH) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, receipt)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(*receipt)
                        .build()
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|error| self.error("DeleteMessageBatch", error))?;
            let output = client
                .delete_message_batch()
                .queue_url(url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|error| self.error("DeleteMessageBatch", error))?;
            failures.extend(output.failed().iter().map(describe_failure));
        }
        self.check_failures("DeleteMessageBatch", receipts.len(), failures)
    }

    async fn release(&self, failed: &[(&str, &str)]) -> Result<(), QueueError> {
        if failed.is_empty() {
            return Ok(());
        }
        // SQS keeps no reason with a message: the consumer has logged each one (redacted).
        tracing::debug!(queue = %self.name, messages = failed.len(), "released for redelivery; the redrive policy dead-letters them after max_receive_count");
        let receipts: Vec<&str> = failed.iter().map(|(receipt, _)| *receipt).collect();
        self.change_visibility(&receipts, 0).await
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

impl SqsQueue {
    async fn attributes(
        &self,
        url: &str,
        names: &[QueueAttributeName],
    ) -> Result<std::collections::HashMap<QueueAttributeName, String>, QueueError> {
        let output = self
            .aws
            .sqs()
            .await
            .get_queue_attributes()
            .queue_url(url)
            .set_attribute_names(Some(names.to_vec()))
            .send()
            .await
            .map_err(|error| self.error("GetQueueAttributes", error))?;
        Ok(output.attributes.unwrap_or_default())
    }
}

/// Looks up a queue's URL by name (and owner account, for a dead-letter queue's ARN).
async fn queue_url(aws: &Aws, name: &str, account: Option<&str>) -> Result<String, QueueError> {
    let client = aws.sqs().await;
    let output = client
        .get_queue_url()
        .queue_name(name)
        .set_queue_owner_aws_account_id(account.map(str::to_owned))
        .send()
        .await
        .map_err(|error| {
            if error
                .as_service_error()
                .is_some_and(|e| e.is_queue_does_not_exist())
            {
                let region = client
                    .config()
                    .region()
                    .map_or_else(|| "the configured region".to_owned(), ToString::to_string);
                QueueError::Aws(format!(
                    "queue `{name}` does not exist in {region}: create it with `stockrun init FILE --backend aws`"
                ))
            } else {
                QueueError::Aws(format!(
                    "queue `{name}`: GetQueueUrl: {}",
                    DisplayErrorContext(&error)
                ))
            }
        })?;
    output
        .queue_url()
        .map(str::to_owned)
        .ok_or_else(|| QueueError::Aws(format!("queue `{name}`: GetQueueUrl returned no URL")))
}

/// Index ranges of `bodies` that fit one SendMessageBatch: at most ten entries and 256 KiB of
/// bodies each. Every body must fit on its own.
pub(crate) fn send_chunks(bodies: &[String]) -> Vec<Range<usize>> {
    let mut chunks = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (i, body) in bodies.iter().enumerate() {
        if i > start && (i - start == MAX_BATCH || bytes + body.len() > MAX_PAYLOAD_BYTES) {
            chunks.push(start..i);
            start = i;
            bytes = 0;
        }
        bytes += body.len();
    }
    if start < bodies.len() {
        chunks.push(start..bodies.len());
    }
    chunks
}

/// `deadLetterTargetArn` of a RedrivePolicy attribute (JSON).
pub(crate) fn dead_letter_arn(policy: &str) -> Option<String> {
    let policy: serde_json::Value = serde_json::from_str(policy).ok()?;
    policy
        .get("deadLetterTargetArn")?
        .as_str()
        .map(str::to_owned)
}

/// The account (when present) and queue name of `arn:aws:sqs:REGION:ACCOUNT:NAME`.
pub(crate) fn arn_account_and_name(arn: &str) -> Option<(Option<&str>, &str)> {
    let parts: Vec<&str> = arn.split(':').collect();
    match parts.as_slice() {
        ["arn", _, "sqs", _, account, name] if !name.is_empty() => {
            Some(((!account.is_empty()).then_some(*account), *name))
        }
        _ => None,
    }
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
mod tests {
    use super::*;

    fn bodies(sizes: &[usize]) -> Vec<String> {
        sizes.iter().map(|&n| "x".repeat(n)).collect()
    }

    #[test]
    fn send_chunks_hold_at_most_ten_entries() {
        let chunks = send_chunks(&bodies(&[10; 25]));
        assert_eq!(chunks, vec![0..10, 10..20, 20..25]);
    }

    #[test]
    fn send_chunks_hold_at_most_256_kib() {
        let big = 100 * 1024;
        let chunks = send_chunks(&bodies(&[big, big, big, 10, MAX_PAYLOAD_BYTES]));
        assert_eq!(chunks, vec![0..2, 2..4, 4..5]);
    }

    #[test]
    fn send_chunks_of_nothing_is_nothing() {
        assert!(send_chunks(&[]).is_empty());
    }

    #[test]
    fn redrive_policy_names_the_dead_letter_queue() {
        let policy = r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:123456789012:quotes-dlq","maxReceiveCount":"3"}"#;
        let arn = dead_letter_arn(policy).unwrap();
        assert_eq!(
            arn_account_and_name(&arn),
            Some((Some("123456789012"), "quotes-dlq"))
        );
        assert_eq!(dead_letter_arn("{}"), None);
        assert_eq!(arn_account_and_name("quotes-dlq"), None);
    }

    #[test]
    fn visibility_rounds_up_to_whole_seconds() {
        assert_eq!(whole_seconds_up(Duration::from_millis(1500)), 2);
        assert_eq!(whole_seconds_up(Duration::from_secs(90)), 90);
        assert_eq!(whole_seconds_up(Duration::ZERO), 0);
    }
}

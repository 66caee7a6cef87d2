//! Sending to SQS: bodies split into SendMessageBatch calls of at most ten entries and 256 KiB,
//! and the entries SQS reports as failed (on HTTP 200) sent again with backoff.

use std::collections::HashSet;
use std::ops::Range;

use aws_sdk_sqs::types::{BatchResultErrorEntry, SendMessageBatchRequestEntry};
use backon::BackoffBuilder;

use super::{SqsQueue, describe_failure};
use crate::queue::MAX_MESSAGE_BYTES;
use crate::queue::{MAX_BATCH, QueueError};
use crate::retry;

impl SqsQueue {
    /// Sends one chunk (≤ 10 entries, ≤ 256 KiB); entries SQS reports as failed are sent again
    /// with backoff, unless SQS says they are at fault themselves.
    pub(super) async fn send_chunk(
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
        let mut delays = retry::sqs_failed_entries().build();
        loop {
            let entries = pending
                .iter()
                .map(|(id, body)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(id.as_str())
                        .message_body(*body)
                        .build()
                        .expect("the id and body are set")
                })
                .collect();
            let output = client
                .send_message_batch()
                .queue_url(url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|error| self.error("SendMessageBatch", &error))?;
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
}

/// Index ranges of `bodies` that fit one SendMessageBatch: at most ten entries and 256 KiB of
/// bodies each. Every body must fit on its own.
pub(crate) fn send_chunks(bodies: &[String]) -> Vec<Range<usize>> {
    let mut chunks = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (i, body) in bodies.iter().enumerate() {
        if i > start && (i - start == MAX_BATCH || bytes + body.len() > MAX_MESSAGE_BYTES) {
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

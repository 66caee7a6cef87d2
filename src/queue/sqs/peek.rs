//! Looking at the dead-letter queue without taking anything out of it (`stockrun show --dead
//! --backend aws`). SQS has no peek: a message is read by receiving it. So the walk receives
//! from the *dead-letter* queue (never the pipeline's own queue) with a short visibility timeout,
//! so each receive returns messages not yet seen, and then makes every one of them visible again
//! at once (ChangeMessageVisibilityBatch to 0). Nothing is deleted.
//!
//! What a receive counts toward: only a queue's own redrive policy acts on receive counts, and
//! the pipeline's queue is not touched. The dead-letter queue's messages do get their
//! `ApproximateReceiveCount` raised by one per look; that decides nothing as long as the
//! dead-letter queue has no redrive policy of its own, so the walk refuses one that has (a
//! look could then move messages further on). The receive count shown is SQS's, looks
//! included.
//!
//! SQS cannot keep the reason a message was dead-lettered (attributes cannot change after a
//! message is sent, and a release carries none); `show` works it out again from the body.

use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};

use super::{MAX_BATCH, SqsQueue, dead_letter_arn, describe_failure, visibility_entry};
use crate::queue::{DeadLetter, QueueError};

/// How long the walk keeps what it received hidden, at most: long enough for the walk, and
/// cut short by making them visible again as soon as it ends.
const WALK_VISIBILITY_SECONDS: i32 = 30;

/// The dead letters seen, and how many the dead-letter queue holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeadLetters {
    /// Up to the number asked for, the most recently sent first.
    pub letters: Vec<DeadLetter>,
    /// SQS's approximate number of messages in the dead-letter queue.
    pub total: u64,
}

impl SqsQueue {
    /// Up to `max` messages of the dead-letter queue the redrive policy names, left where they
    /// are (see the module doc). An error when the queue has no redrive policy, or when the
    /// dead-letter queue has one of its own.
    pub async fn peek_dead_letters(&self, max: usize) -> Result<DeadLetters, QueueError> {
        let url = self.url().await?.to_owned();
        let policy = self
            .attributes(&url, &[QueueAttributeName::RedrivePolicy])
            .await?;
        let Some(arn) = policy
            .get(&QueueAttributeName::RedrivePolicy)
            .and_then(|policy| dead_letter_arn(policy))
        else {
            return Err(QueueError::Aws(format!(
                "queue `{}` has no redrive policy, so it has no dead-letter queue: `stockrun init --backend aws` sets one up",
                self.name
            )));
        };
        let dead_url = self.dead_letter_url(&arn).await?;
        let attributes = self
            .attributes(
                &dead_url,
                &[
                    QueueAttributeName::ApproximateNumberOfMessages,
                    QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
                    QueueAttributeName::RedrivePolicy,
                ],
            )
            .await?;
        if attributes.contains_key(&QueueAttributeName::RedrivePolicy) {
            return Err(QueueError::Aws(format!(
                "the dead-letter queue of `{}` ({arn}) has a redrive policy of its own: looking at its messages counts as receiving them and could move them on, so `show --dead` does not; use the AWS console",
                self.name
            )));
        }
        let total = [
            QueueAttributeName::ApproximateNumberOfMessages,
            QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
        ]
        .iter()
        .filter_map(|name| attributes.get(name)?.parse::<u64>().ok())
        .sum();
        let mut seen: Vec<(u64, DeadLetter)> = Vec::new();
        let mut receipts: Vec<String> = Vec::new();
        let walked = self.walk(&dead_url, max, &mut seen, &mut receipts).await;
        // Whatever the walk ended with, what it received is made visible again.
        let released = self.make_visible(&dead_url, &receipts).await;
        walked?;
        released?;
        seen.sort_by_key(|(sent, _)| std::cmp::Reverse(*sent));
        Ok(DeadLetters {
            letters: seen
                .into_iter()
                .map(|(_, letter)| letter)
                .take(max)
                .collect(),
            total,
        })
    }

    /// Receives from the dead-letter queue until `max` messages are seen or none comes.
    async fn walk(
        &self,
        dead_url: &str,
        max: usize,
        seen: &mut Vec<(u64, DeadLetter)>,
        receipts: &mut Vec<String>,
    ) -> Result<(), QueueError> {
        let client = self.aws.sqs().await;
        while seen.len() < max {
            let output = client
                .receive_message()
                .queue_url(dead_url)
                .max_number_of_messages(MAX_BATCH as i32)
                .wait_time_seconds(1)
                .visibility_timeout(WALK_VISIBILITY_SECONDS)
                .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
                .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
                .send()
                .await
                .map_err(|error| self.error("ReceiveMessage (dead-letter queue)", &error))?;
            if output.messages().is_empty() {
                return Ok(());
            }
            for message in output.messages() {
                if let Some(receipt) = message.receipt_handle() {
                    receipts.push(receipt.to_owned());
                }
                let attribute = |name: MessageSystemAttributeName| {
                    message
                        .attributes()
                        .and_then(|a| a.get(&name))
                        .and_then(|value| value.parse::<u64>().ok())
                };
                let id = message.message_id().unwrap_or_default().to_owned();
                if seen.iter().any(|(_, letter)| letter.id == id) {
                    continue;
                }
                seen.push((
                    attribute(MessageSystemAttributeName::SentTimestamp).unwrap_or(0),
                    DeadLetter {
                        id,
                        body: message.body().unwrap_or_default().to_owned(),
                        receive_count: attribute(
                            MessageSystemAttributeName::ApproximateReceiveCount,
                        )
                        .and_then(|count| u32::try_from(count).ok())
                        .unwrap_or(0),
                        last_error: None,
                    },
                ));
            }
        }
        Ok(())
    }

    /// Makes the messages received by the walk visible again at once.
    async fn make_visible(&self, dead_url: &str, receipts: &[String]) -> Result<(), QueueError> {
        let client = self.aws.sqs().await;
        let mut failures = Vec::new();
        for chunk in receipts.chunks(MAX_BATCH) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, receipt)| visibility_entry(i.to_string(), receipt, 0))
                .collect();
            let output = client
                .change_message_visibility_batch()
                .queue_url(dead_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|error| {
                    self.error("ChangeMessageVisibilityBatch (dead-letter queue)", &error)
                })?;
            failures.extend(output.failed.iter().map(describe_failure));
        }
        self.check_failures(
            "ChangeMessageVisibilityBatch (dead-letter queue)",
            receipts.len(),
            failures,
        )
    }
}

//! Creating a pipeline's queues on SQS for development (`stockrun init`): the dead-letter queue,
//! then the queue with a redrive policy naming it, each with the visibility timeout and retention
//! the description gives. What exists is found with `lookup` and left as it is; only a redrive policy that does
//! not match is reported. Production queues come from the deploy template instead.

use aws_sdk_sqs::types::QueueAttributeName;

use super::lookup::{LookupError, dead_letter_arn, find_queue_url, queue_attributes};
use crate::aws::{Aws, sdk_error_message};
use crate::resources::{Provisioned, QueueResource};

/// Why a queue could not be found or made.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    /// Looking a queue or its attributes up failed.
    #[error(transparent)]
    Lookup(#[from] LookupError),
    /// CreateQueue failed.
    #[error("queue `{name}`: CreateQueue: {message}")]
    Create {
        /// The queue's name.
        name: String,
        /// What AWS said.
        message: String,
    },
    /// CreateQueue answered without the queue's URL.
    #[error("queue `{name}`: CreateQueue returned no URL")]
    NoUrl {
        /// The queue's name.
        name: String,
    },
    /// The dead-letter queue has no ARN to name in a redrive policy.
    #[error("queue `{name}` has no QueueArn attribute")]
    NoArn {
        /// The dead-letter queue's name.
        name: String,
    },
}

/// The dead-letter queue, found or created.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadLetterQueue {
    /// Whether it was there.
    pub provisioned: Provisioned,
    /// Its ARN, for the queue's redrive policy.
    pub arn: String,
}

/// Where an existing queue's redrive policy sends poison messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Redrive {
    /// To the dead-letter queue of the description (or the queue was created with that policy).
    AsDescribed,
    /// Nowhere: the queue has no redrive policy.
    Missing,
    /// To another queue, by ARN.
    Elsewhere(String),
}

/// Finds the dead-letter queue `queue.dead_letter`, creating it when missing.
pub async fn dead_letter_queue(
    aws: &Aws,
    queue: &QueueResource,
) -> Result<DeadLetterQueue, ProvisionError> {
    let name = &queue.dead_letter;
    let (provisioned, url) = match find_queue_url(aws, name, None).await? {
        Some(url) => (Provisioned::Existed, url),
        None => {
            let retention = seconds(queue.dead_letter_retention);
            let attributes = vec![(QueueAttributeName::MessageRetentionPeriod, retention)];
            (
                Provisioned::Created,
                create_queue(aws, name, attributes).await?,
            )
        }
    };
    let arn = queue_attributes(aws, name, &url, &[QueueAttributeName::QueueArn])
        .await?
        .remove(&QueueAttributeName::QueueArn)
        .ok_or_else(|| ProvisionError::NoArn { name: name.clone() })?;
    Ok(DeadLetterQueue { provisioned, arn })
}

/// Finds the queue `queue.name`, creating it when missing with the description's visibility
/// timeout and a redrive policy to `dead_letter_target` (an ARN) after `max_receive_count`
/// receives. An
/// existing queue is not changed: where its redrive policy points is returned.
pub async fn queue(
    aws: &Aws,
    queue: &QueueResource,
    dead_letter_target: &str,
) -> Result<(Provisioned, Redrive), ProvisionError> {
    let name = &queue.name;
    if let Some(url) = find_queue_url(aws, name, None).await? {
        let mut attributes =
            queue_attributes(aws, name, &url, &[QueueAttributeName::RedrivePolicy]).await?;
        let target = attributes
            .remove(&QueueAttributeName::RedrivePolicy)
            .as_deref()
            .and_then(dead_letter_arn);
        let redrive = match target {
            None => Redrive::Missing,
            Some(target) if target != dead_letter_target => Redrive::Elsewhere(target),
            Some(_) => Redrive::AsDescribed,
        };
        return Ok((Provisioned::Existed, redrive));
    }
    let policy = serde_json::json!({
        "deadLetterTargetArn": dead_letter_target,
        "maxReceiveCount": queue.max_receive_count,
    });
    create_queue(
        aws,
        name,
        vec![
            (QueueAttributeName::RedrivePolicy, policy.to_string()),
            (
                QueueAttributeName::VisibilityTimeout,
                seconds(queue.visibility_timeout),
            ),
            (
                QueueAttributeName::MessageRetentionPeriod,
                seconds(queue.retention),
            ),
        ],
    )
    .await?;
    Ok((Provisioned::Created, Redrive::AsDescribed))
}

/// A queue attribute in seconds, as SQS writes it.
fn seconds(duration: std::time::Duration) -> String {
    duration.as_secs().to_string()
}

/// Creates the queue `name` with `attributes`; its URL.
async fn create_queue(
    aws: &Aws,
    name: &str,
    attributes: Vec<(QueueAttributeName, String)>,
) -> Result<String, ProvisionError> {
    let output = aws
        .sqs()
        .await
        .create_queue()
        .queue_name(name)
        .set_attributes(Some(attributes.into_iter().collect()))
        .send()
        .await
        .map_err(|error| ProvisionError::Create {
            name: name.to_owned(),
            message: sdk_error_message(&error),
        })?;
    output
        .queue_url()
        .map(str::to_owned)
        .ok_or_else(|| ProvisionError::NoUrl {
            name: name.to_owned(),
        })
}

//! Finding things in SQS: a queue's URL by name (once), its attributes, and the dead-letter
//! queue its redrive policy names. The queue uses these, and so does `provision` (which needs to
//! know that a queue is missing rather than fail).

use std::collections::HashMap;

use aws_sdk_sqs::types::QueueAttributeName;

use super::SqsQueue;
use crate::aws::{Aws, sdk_error_message};
use crate::queue::QueueError;

/// A lookup SQS refused or could not answer: the queue, the call and what AWS said.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct LookupError(String);

impl From<LookupError> for QueueError {
    fn from(error: LookupError) -> QueueError {
        QueueError::Aws(error.0)
    }
}

impl SqsQueue {
    /// The dead-letter queue's URL, for the ARN the redrive policy names (looked up once per ARN).
    pub(super) async fn dead_letter_url(&self, arn: &str) -> Result<String, QueueError> {
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

    /// The attributes `names` of the queue at `url` (GetQueueAttributes).
    pub(super) async fn attributes(
        &self,
        url: &str,
        names: &[QueueAttributeName],
    ) -> Result<HashMap<QueueAttributeName, String>, QueueError> {
        Ok(queue_attributes(&self.aws, &self.name, url, names).await?)
    }
}

/// The attributes `names` of the queue `name` at `url` (GetQueueAttributes).
pub(super) async fn queue_attributes(
    aws: &Aws,
    name: &str,
    url: &str,
    names: &[QueueAttributeName],
) -> Result<HashMap<QueueAttributeName, String>, LookupError> {
    let output = aws
        .sqs()
        .await
        .get_queue_attributes()
        .queue_url(url)
        .set_attribute_names(Some(names.to_vec()))
        .send()
        .await
        .map_err(|error| {
            LookupError(format!(
                "queue `{name}`: GetQueueAttributes: {}",
                sdk_error_message(&error)
            ))
        })?;
    Ok(output.attributes.unwrap_or_default())
}

/// Looks up a queue's URL by name (and owner account, for a dead-letter queue's ARN); a missing
/// queue is an error that says how to create it.
pub(super) async fn queue_url(
    aws: &Aws,
    name: &str,
    account: Option<&str>,
) -> Result<String, LookupError> {
    if let Some(url) = find_queue_url(aws, name, account).await? {
        return Ok(url);
    }
    let region = aws
        .sqs()
        .await
        .config()
        .region()
        .map_or_else(|| "the configured region".to_owned(), ToString::to_string);
    Err(LookupError(format!(
        "queue `{name}` does not exist in {region}: create it with `stockrun init FILE --backend aws`"
    )))
}

/// The URL of the queue `name` (owned by `account`, when given), or `None` when there is none.
pub(super) async fn find_queue_url(
    aws: &Aws,
    name: &str,
    account: Option<&str>,
) -> Result<Option<String>, LookupError> {
    let output = aws
        .sqs()
        .await
        .get_queue_url()
        .queue_name(name)
        .set_queue_owner_aws_account_id(account.map(str::to_owned))
        .send()
        .await;
    match output {
        Ok(output) => output
            .queue_url()
            .map(|url| Some(url.to_owned()))
            .ok_or_else(|| LookupError(format!("queue `{name}`: GetQueueUrl returned no URL"))),
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|e| e.is_queue_does_not_exist()) =>
        {
            Ok(None)
        }
        Err(error) => Err(LookupError(format!(
            "queue `{name}`: GetQueueUrl: {}",
            sdk_error_message(&error)
        ))),
    }
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

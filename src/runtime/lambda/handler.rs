//! The Lambda handler: what one container keeps between invocations (the compiled pipeline, the
//! SDK clients, the poller) and what each invocation does with it. An SQS batch takes the same
//! path as the local consumer's ([`store_batch`], [`send_digest`]); the event source mapping
//! deletes what the response does not list as failed.

use std::sync::Arc;

use aws_lambda_events::event::sqs::SqsBatchResponse;
use serde::Serialize;
use serde_json::Value;

use super::event::{EventError, Invocation, classify};
use crate::compile::Loaded;
use crate::queue::Received;
use crate::runtime::Stages;
use crate::runtime::backend::Backend;
use crate::runtime::batch::{release_poison, send_digest, store_batch};
use crate::runtime::counters::Counters;
use crate::runtime::poll_loop::poll_and_queue;
use crate::source::Poller;

/// Everything an invocation needs, built once per container.
pub struct Handler {
    stages: Stages,
    poller: Poller,
}

/// Why a container cannot start.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// The queue cannot be set up.
    #[error("cannot set up the queue: {0}")]
    Queue(#[from] crate::runtime::backend::BackendError),
    /// The consumer's stages cannot be built.
    #[error(transparent)]
    Stages(#[from] crate::runtime::StagesError),
    /// The poller cannot be built.
    #[error(transparent)]
    Source(#[from] crate::source::SourceError),
}

/// Why an invocation failed as a whole (Lambda then retries it or sends it to the function's
/// failure destination). A bad record never does this: it is reported in `batchItemFailures`.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// The event is not one the function handles.
    #[error(transparent)]
    Event(#[from] EventError),
    /// The scheduled poll fetched records it could not queue (the retry fetches them again).
    #[error(
        "{not_queued} of {fetched} fetched records could not be queued (see the log); failing the invocation so the schedule's retry polls again"
    )]
    NotQueued {
        /// Records fetched.
        fetched: u64,
        /// Records not sent to the queue.
        not_queued: u64,
    },
    /// Every feed's request failed.
    #[error("every request failed ({failed_feeds} feeds; see the log)")]
    AllFeedsFailed {
        /// Feeds that failed.
        failed_feeds: u64,
    },
}

/// What a scheduled poll did: the handler's response to EventBridge (visible in the log and when
/// the function is invoked by hand).
#[derive(Debug, Default, PartialEq, Eq, Serialize)]
pub struct PollCounts {
    /// The pipeline's name.
    pub pipeline: String,
    /// HTTP requests made, retries included.
    pub requests: u64,
    /// Feeds whose request failed or whose body was an error.
    pub failed_feeds: u64,
    /// Records found in responses.
    pub fetched: u64,
    /// Records sent to the queue.
    pub queued: u64,
    /// Records refused because their message would be over the queue's 256 KiB limit (logged;
    /// polling again would fetch them again, so they do not fail the invocation).
    pub too_large: u64,
}

impl Handler {
    /// Builds the stages and poller of `loaded` on `backend` (the SDK clients themselves are built
    /// on first use, once per container).
    pub fn new(loaded: &Loaded, backend: &Backend) -> Result<Handler, InitError> {
        let queue = backend.queue(&loaded.pipeline)?;
        let stages = Stages::open(loaded, backend, Arc::clone(&queue))?;
        let poller = loaded.poller()?;
        Ok(Handler { stages, poller })
    }

    /// The pipeline's name (every log line carries it).
    pub fn pipeline_name(&self) -> &str {
        &self.stages.pipeline.name.value
    }

    /// Handles one invocation and returns the response payload.
    pub async fn handle(&self, event: Value) -> Result<Value, HandlerError> {
        let response = match classify(event)? {
            Invocation::Sqs(messages) => to_json(&self.process(messages).await),
            Invocation::Scheduled => to_json(&self.poll().await?),
        };
        Ok(response)
    }

    /// Processes, stores and e-mails one SQS batch. The response lists the messages to deliver
    /// again: poison records (they reach the dead-letter queue after `max_receive_count`) and
    /// records whose store write failed. A stored record is never listed.
    pub async fn process(&self, messages: Vec<Received>) -> SqsBatchResponse {
        let received = messages.len();
        let outcome = store_batch(&self.stages, messages).await;
        let mut response = SqsBatchResponse::default();
        for message in &outcome.failed {
            response.add_failure(message.id.clone());
        }
        for (message, _) in &outcome.poison {
            response.add_failure(message.id.clone());
        }
        // As the local consumer does: poison is redelivered at once, not after the visibility
        // timeout (six times the function timeout), so it reaches the dead-letter queue quickly.
        release_poison(&self.stages, &outcome.poison).await;
        // Before returning: the event source mapping deletes the stored messages only then, so an
        // e-mail is never sent for records that could be lost.
        let emailed = match &outcome.digest {
            Some(digest) => send_digest(&self.stages, digest).await.is_some(),
            None => false,
        };
        tracing::info!(
            received,
            stored = outcome.stored.len(),
            poison = outcome.poison.len(),
            failed = outcome.failed.len(),
            emailed,
            "batch done"
        );
        response
    }

    /// Polls once and queues every record.
    pub async fn poll(&self) -> Result<PollCounts, HandlerError> {
        let counters = Counters::default();
        poll_and_queue(
            &self.poller,
            self.stages.queue.as_ref(),
            &counters,
            &self.stages.redactor,
        )
        .await;
        let get = Counters::get;
        let counts = PollCounts {
            pipeline: self.pipeline_name().to_owned(),
            requests: get(&counters.requests),
            failed_feeds: get(&counters.failed_feeds),
            fetched: get(&counters.fetched),
            queued: get(&counters.queued),
            too_large: get(&counters.too_large),
        };
        let not_queued = get(&counters.not_queued);
        if not_queued > 0 {
            return Err(HandlerError::NotQueued {
                fetched: counts.fetched,
                not_queued,
            });
        }
        if counts.fetched == 0 && counts.failed_feeds > 0 {
            return Err(HandlerError::AllFeedsFailed {
                failed_feeds: counts.failed_feeds,
            });
        }
        Ok(counts)
    }
}

/// The response payload. Serialising these plain structs cannot fail.
fn to_json(response: &impl Serialize) -> Value {
    serde_json::to_value(response).unwrap_or(Value::Null)
}

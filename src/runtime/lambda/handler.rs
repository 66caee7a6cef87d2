//! The Lambda handler: what one container keeps between invocations (the compiled pipeline, the
//! SDK clients, the poller) and what each invocation does with it. An SQS batch goes through the
//! same lifecycle as the local consumer's, [`handle_batch`] (store, e-mail the digest, then
//! acknowledge), with [`Acknowledge::Unlisted`]: instead of deleting, the handler returns the
//! poison and failed messages, and the stored ones whose e-mail was cut short by the nearing
//! deadline, in `batchItemFailures`; the event source mapping deletes every other message once
//! the handler has returned. Poison is still released through the queue. A failure trying again
//! cannot fix (`Settled::halt`), which stops the consumer, is logged here.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_lambda_events::event::sqs::SqsBatchResponse;
use serde::Serialize;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::event::{EventError, Invocation, classify};
use crate::compile::Loaded;
use crate::queue::Received;
use crate::runtime::Stages;
use crate::runtime::alerts;
use crate::runtime::backend::Backend;
use crate::runtime::batch::{Acknowledge, handle_batch};
use crate::runtime::counters::Counters;
use crate::runtime::poll_loop::{feed_status, poll_and_queue};
use crate::source::Poller;
use crate::source::status::FeedStatusStore;

/// How long before the invocation's deadline the handler stops its e-mail step (no new
/// attempt; the attempt in flight is abandoned within [`crate::runtime::batch::STOP_GRACE`]),
/// leaving time to release poison and return the response. Lambda kills a handler at its
/// deadline without a word; stopping first means the batch's stored messages are listed for
/// redelivery (stored again, e-mailed again), and the log says why.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(10);

/// Everything an invocation needs, built once per container.
pub struct Handler {
    stages: Stages,
    poller: Poller,
    /// Where the scheduled poll records each feed's poll (`None` when it cannot be opened).
    status: Option<Arc<dyn FeedStatusStore>>,
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
/// Its `Debug` is its message: the Lambda runtime logs a failed invocation's error with `{:?}`,
/// and the log should say in plain words what happened, not show Rust's structure.
#[derive(thiserror::Error)]
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

impl std::fmt::Debug for HandlerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
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
    /// Alerts mailed from the outbox (a due digest, or alerts whose mail failed before).
    pub alerts_mailed: u64,
}

impl Handler {
    /// Builds the stages and poller of `loaded` on `backend` (the SDK clients themselves are built
    /// on first use, once per container).
    pub fn new(loaded: &Loaded, backend: &Backend) -> Result<Handler, InitError> {
        let queue = backend.queue(&loaded.pipeline)?;
        let stages = Stages::open(loaded, backend, Arc::clone(&queue))?;
        let poller = loaded.poller()?;
        let status = feed_status(backend, &loaded.pipeline);
        Ok(Handler {
            stages,
            poller,
            status,
        })
    }

    /// The pipeline's name (every log line carries it).
    pub fn pipeline_name(&self) -> &str {
        &self.stages.pipeline.name.value
    }

    /// Handles one invocation with no deadline and returns the response payload.
    pub async fn handle(&self, event: Value) -> Result<Value, HandlerError> {
        self.handle_until(event, &CancellationToken::new()).await
    }

    /// Handles one invocation that Lambda ends at `deadline` (the invocation context's): the
    /// e-mail step is stopped [`DEADLINE_MARGIN`] before it, so the handler always answers.
    pub async fn handle_by(
        &self,
        event: Value,
        deadline: SystemTime,
    ) -> Result<Value, HandlerError> {
        let stop = CancellationToken::new();
        let left = deadline
            .checked_sub(DEADLINE_MARGIN)
            .and_then(|at| at.duration_since(SystemTime::now()).ok())
            .unwrap_or_default();
        let timer = tokio::spawn({
            let stop = stop.clone();
            async move {
                tokio::time::sleep(left).await;
                tracing::warn!(margin = ?DEADLINE_MARGIN, "the invocation's deadline is near: stopping the e-mail step");
                stop.cancel();
            }
        });
        let handled = self.handle_until(event, &stop).await;
        timer.abort();
        handled
    }

    /// Handles one invocation, cutting the e-mail step short when `stop` is cancelled.
    async fn handle_until(
        &self,
        event: Value,
        stop: &CancellationToken,
    ) -> Result<Value, HandlerError> {
        let response = match classify(event)? {
            Invocation::Sqs(messages) => to_json(&self.process_until(messages, stop).await),
            Invocation::Scheduled => {
                // Mail what the alert outbox holds (leftovers, a due digest) before polling: a
                // poll that fails must not hold up alerts already raised.
                let alerts_mailed = if self.stages.alerts.is_some() {
                    alerts::flush(&self.stages, stop, self.stages.clock.now()).await as u64
                } else {
                    0
                };
                let mut counts = self.poll().await?;
                counts.alerts_mailed = alerts_mailed;
                to_json(&counts)
            }
        };
        Ok(response)
    }

    /// Processes, stores and e-mails one SQS batch. The response lists the messages to deliver
    /// again: poison records (released at once, they reach the dead-letter queue after
    /// `max_receive_count`) and records whose store write failed. A stored record is never
    /// listed, and it is e-mailed before the handler returns, that is before the event source
    /// mapping deletes it: an e-mail is never sent for records that could be lost.
    pub async fn process(&self, messages: Vec<Received>) -> SqsBatchResponse {
        self.process_until(messages, &CancellationToken::new())
            .await
    }

    /// [`Handler::process`], with the e-mail step cut short when `stop` is cancelled: the
    /// stored messages whose e-mail was cut are listed too, so they are delivered again. A
    /// [`crate::runtime::batch::Halt`] is logged here: the consumer would stop, a handler cannot.
    async fn process_until(
        &self,
        messages: Vec<Received>,
        stop: &CancellationToken,
    ) -> SqsBatchResponse {
        let received = messages.len();
        let settled = handle_batch(&self.stages, messages, Acknowledge::Unlisted, stop).await;
        if let Some(halt) = &settled.halt {
            // The consumer stops here; a Lambda handler cannot stop the event source mapping, so
            // it logs the failure and lists the batch's failed and poison messages (the queue
            // delivers them again, then dead-letters them).
            tracing::error!(
                error = %halt,
                "the queue or the store failed in a way trying again cannot fix; the affected \
                 messages are listed for redelivery"
            );
        }
        let mut response = SqsBatchResponse::default();
        for id in settled.redelivered_ids() {
            response.add_failure(id.to_owned());
        }
        tracing::info!(
            received,
            stored = settled.stored,
            poison = settled.poison.len(),
            failed = settled.failed.len(),
            unmailed = settled.unmailed.len(),
            emailed = ?settled.emailed,
            alerts_raised = settled.alerts_raised,
            alerts_mailed = settled.alerts_mailed,
            "batch done"
        );
        response
    }

    /// Polls once, queues every record and records the feeds' status; outside `source.active`,
    /// polls nothing.
    pub async fn poll(&self) -> Result<PollCounts, HandlerError> {
        self.poll_at(chrono::Utc::now()).await
    }

    /// [`Handler::poll`] at `now`. The schedule may fire outside `source.active` (the template
    /// folds only whole hours and days into the cron: `deploy::cron`); such an invocation does
    /// nothing, and says why at debug.
    async fn poll_at(
        &self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<PollCounts, HandlerError> {
        if !self.poller.is_active(now) {
            tracing::debug!(
                at = %now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "outside `source.active`: not polling"
            );
            return Ok(PollCounts {
                pipeline: self.pipeline_name().to_owned(),
                ..PollCounts::default()
            });
        }
        let counters = Counters::default();
        // An invocation ends by its timeout, not by a stop request. A queue error trying again
        // cannot fix leaves the rest not queued, which fails the invocation below.
        let never = tokio_util::sync::CancellationToken::new();
        let queue = self.stages.queue.as_ref();
        let status = self.status.as_deref();
        if let Err(error) = poll_and_queue(&self.poller, queue, status, &counters, &never).await {
            tracing::error!(%error, "the queue cannot take records");
        }
        let get = Counters::get;
        let counts = PollCounts {
            pipeline: self.pipeline_name().to_owned(),
            requests: get(&counters.requests),
            failed_feeds: get(&counters.failed_feeds),
            fetched: get(&counters.fetched),
            queued: get(&counters.queued),
            too_large: get(&counters.too_large),
            alerts_mailed: 0,
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::time::Duration;

    use super::*;
    use crate::queue::{Queue, QueueCounts};
    use crate::runtime::testing::{
        Hanging, at_email, local_queue, outbox_files, poller as test_poller, stages,
    };

    /// The same moment as `consumer`'s test: the digest is sent when every record is stored and
    /// before the handler releases poison or returns (after which the event source mapping
    /// deletes the stored messages).
    #[tokio::test]
    async fn the_handler_emails_the_stored_records_before_it_releases_or_reports_any() {
        let dir = tempfile::tempdir().unwrap();
        let queue = local_queue(dir.path());
        let (stages, probe) = stages(dir.path(), queue.clone(), 3, 2).await;
        let poller = test_poller(&stages.pipeline, dir.path());
        let handler = Handler {
            stages,
            poller,
            status: None,
        };
        let messages = queue.receive(10, Duration::ZERO).await.unwrap();
        assert_eq!(messages.len(), 5);
        let poison: BTreeSet<String> = messages[3..].iter().map(|m| m.id.clone()).collect();

        let response = handler.process(messages).await;

        assert_eq!(probe.seen(), vec![at_email(3, 2)]);
        assert_eq!(outbox_files(dir.path()), 1);
        let listed: BTreeSet<String> = response
            .batch_item_failures
            .iter()
            .map(|failure| failure.item_identifier.clone())
            .collect();
        assert_eq!(listed, poison);
        // Then: the poison released at once, the stored ones left for the event source mapping.
        let left = queue.counts().await.unwrap();
        let expected = QueueCounts {
            visible: 2,
            in_flight: 3,
            dead: 0,
        };
        assert_eq!(left, expected);
    }

    /// A scheduled poll outside `source.active` makes no request (its `file:` source does not
    /// exist: a poll would fail the invocation); inside, it polls.
    #[tokio::test]
    async fn a_scheduled_poll_outside_the_active_window_does_nothing() {
        use crate::config::Located;
        use crate::config::model::ActiveWindow;
        let dir = tempfile::tempdir().unwrap();
        let (stages, _) = stages(dir.path(), local_queue(dir.path()), 0, 0).await;
        let mut pipeline = stages.pipeline.clone();
        pipeline.source.active = Some(Located::unlocated(vec![ActiveWindow {
            days: Some(Located::unlocated("mon-fri".to_owned())),
            hours: Some(Located::unlocated("09:15-15:30".to_owned())),
            timezone: Some(Located::unlocated("Asia/Kolkata".to_owned())),
        }]));
        let poller = test_poller(&pipeline, dir.path());
        let handler = Handler {
            stages,
            poller,
            status: None,
        };
        let at = |text: &str| chrono::DateTime::parse_from_rfc3339(text).unwrap().to_utc();

        // Saturday, then Monday 15:30 IST (the end is excluded).
        for outside in ["2025-03-22T05:00:00Z", "2025-03-24T10:00:00Z"] {
            let counts = handler.poll_at(at(outside)).await.expect("nothing to fail");
            assert_eq!(counts.requests, 0, "{outside}");
        }
        let inside = handler.poll_at(at("2025-03-24T09:59:00Z")).await;
        assert!(
            matches!(
                inside,
                Err(HandlerError::AllFeedsFailed { failed_feeds: 1 })
            ),
            "{inside:?}"
        );
    }

    /// Lambda ends a handler at the invocation's deadline without a word: the handler stops
    /// its e-mail step `DEADLINE_MARGIN` before, and lists the stored messages whose e-mail was
    /// cut, so they are delivered (stored, e-mailed) again.
    #[tokio::test]
    async fn near_the_deadline_the_handler_cuts_the_email_and_lists_the_stored_messages() {
        let dir = tempfile::tempdir().unwrap();
        let queue = local_queue(dir.path());
        let (mut stages, _) = stages(dir.path(), queue.clone(), 3, 0).await;
        let server = Arc::new(Hanging::default());
        stages.notifier = Some(Arc::clone(&server) as _);
        let poller = test_poller(&stages.pipeline, dir.path());
        let handler = Handler {
            stages,
            poller,
            status: None,
        };
        let messages = queue.receive(10, Duration::ZERO).await.unwrap();
        let ids: BTreeSet<String> = messages.iter().map(|m| m.id.clone()).collect();
        let records: Vec<Value> = messages
            .iter()
            .map(|m| {
                serde_json::json!({
                    "messageId": m.id,
                    "receiptHandle": m.receipt,
                    "body": m.body,
                    "eventSource": "aws:sqs",
                    "attributes": { "ApproximateReceiveCount": "1" },
                })
            })
            .collect();
        let event = serde_json::json!({ "Records": records });
        let deadline = SystemTime::now() + DEADLINE_MARGIN + Duration::from_millis(300);
        let started = std::time::Instant::now();

        let response = handler.handle_by(event, deadline).await.expect("handled");

        let bound =
            Duration::from_millis(300) + crate::runtime::batch::STOP_GRACE + Duration::from_secs(1);
        assert!(started.elapsed() < bound, "{:?}", started.elapsed());
        assert_eq!(server.attempts(), 1);
        let listed: BTreeSet<String> = response["batchItemFailures"]
            .as_array()
            .expect("a list")
            .iter()
            .map(|failure| failure["itemIdentifier"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(listed, ids);
    }
}

//! The source stage: polls the pipeline's REST API (or a `file:` URL, for offline demos) once
//! per feed, turns each response into records with `source.records`, and wraps every record in
//! a [`Message`]. HTTP errors are retried; error bodies on HTTP 200 are errors, not records.
//!
//! - `request`: each feed's URL and headers, rendered and checked once when the poller is built
//!   (`template` fills the `{{key}}` placeholders).
//! - `fetch`: one attempt (HTTP GET or file read), the body capped at `source.max_body`.
//! - `retry`: the [`RetryPolicy`] (backoff, `Retry-After`).
//! - `body`: JSON, `source.errors`, `source.records`.
//! - `ratelimit`: the API's rate-limit headers (`source.ratelimit_headers`).
//! - `schedule`: when to poll ([`Schedule`]).

mod body;
mod fetch;
mod ratelimit;
mod request;
mod retry;
mod schedule;
mod template;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use tracing::Instrument;

pub use retry::RetryPolicy;
pub use schedule::Schedule;

use body::Extractor;
use fetch::{FetchError, Fetched};
use ratelimit::RateLimitHeaders;
use request::{FeedRequest, Target};

use crate::config::Pipeline;
use crate::message::Message;
use crate::redact::Redactor;

/// The default largest response body (or `file:` file) read, `source.max_body`: 10 MiB. A bigger
/// one fails the feed.
pub const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;

/// What one poll produced.
#[derive(Debug, Default)]
pub struct PollReport {
    /// One message per record, across every feed.
    pub messages: Vec<Message>,
    /// Requests made (retries included).
    pub requests: u64,
    /// Feeds whose request failed after retries, or whose body was an error.
    pub failed_feeds: u64,
}

/// Why a poller cannot be built (only for a pipeline `validate` rejects).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SourceError(pub String);

/// Everything compiled once from the pipeline: URL and header templates per feed, JSONPaths,
/// the HTTP client.
pub struct Poller {
    pipeline: String,
    feeds: Vec<FeedRequest>,
    extractor: Extractor,
    schedule: Schedule,
    client: reqwest::Client,
    timeout: Duration,
    retry: RetryPolicy,
    max_body_bytes: usize,
    ratelimit: RateLimitHeaders,
}

impl Poller {
    /// Builds the poller; relative `file:` URLs resolve against `base_dir` (the pipeline file's
    /// directory). The values of credential-like headers and query parameters (`X-Api-Key`,
    /// `apikey=`) are added to `redactor`, which hides them in the returned error, and registered
    /// with the process ([`crate::redact::register`]), which hides them in every log line.
    pub fn new(
        pipeline: &Pipeline,
        base_dir: &Path,
        mut redactor: Redactor,
    ) -> Result<Poller, SourceError> {
        let built = Self::build(pipeline, base_dir, &mut redactor);
        crate::redact::register(&redactor);
        built.map_err(|err| SourceError(redactor.redact(&err.0).into_owned()))
    }

    fn build(
        pipeline: &Pipeline,
        base_dir: &Path,
        redactor: &mut Redactor,
    ) -> Result<Poller, SourceError> {
        let source = &pipeline.source;
        let feeds = request::build(pipeline, base_dir, redactor)?;
        let errors: Vec<&str> = source.errors.iter().map(|e| e.as_str()).collect();
        let timeout = source.timeout.0;
        let client = reqwest::Client::builder()
            .user_agent(concat!("stockrun/", env!("CARGO_PKG_VERSION")))
            .timeout(timeout)
            .redirect(fetch::redirect_policy())
            .build()
            .map_err(|err| SourceError(format!("cannot build the HTTP client: {err}")))?;
        Ok(Poller {
            pipeline: pipeline.name.value.clone(),
            feeds,
            extractor: Extractor::new(&source.records, &errors)?,
            schedule: Schedule::parse(&source.schedule)?,
            client,
            timeout,
            retry: RetryPolicy::default(),
            max_body_bytes: usize::try_from(source.max_body.0).unwrap_or(usize::MAX),
            ratelimit: RateLimitHeaders::new(&source.ratelimit_headers)?,
        })
    }

    /// The same poller with another retry policy (tests use millisecond delays).
    pub fn with_retry(mut self, retry: RetryPolicy) -> Poller {
        self.retry = retry;
        self
    }

    /// When the next poll is due: the first firing of `source.schedule` (UTC) strictly after
    /// `after`, or `None` when the schedule never fires again.
    pub fn next_fire(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.schedule.next_after(after)
    }

    /// Requests every feed once. Failures are logged and counted, never returned:
    /// the poll loop must go on.
    ///
    /// Feeds are requested one after another, which keeps within per-second API limits.
    pub async fn poll_once(&self) -> PollReport {
        let requests = AtomicU64::new(0);
        let mut report = PollReport::default();
        for feed in &self.feeds {
            let span = tracing::info_span!(
                "poll",
                pipeline = %self.pipeline,
                feed = tracing::field::Empty
            );
            if !feed.label.is_empty() {
                span.record("feed", feed.label.as_str());
            }
            match self.poll_feed(feed, &requests).instrument(span).await {
                Some(messages) => report.messages.extend(messages),
                None => report.failed_feeds += 1,
            }
        }
        report.requests = requests.into_inner();
        tracing::debug!(
            pipeline = %self.pipeline,
            messages = report.messages.len(),
            requests = report.requests,
            failed_feeds = report.failed_feeds,
            "poll finished"
        );
        report
    }

    /// One feed's messages, or `None` when it failed (logged here).
    async fn poll_feed(&self, feed: &FeedRequest, requests: &AtomicU64) -> Option<Vec<Message>> {
        let started = Instant::now();
        let fetched = self.fetch(&feed.target, requests).await;
        let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let fetched = match fetched {
            Ok(fetched) => fetched,
            Err(error) => {
                tracing::error!(%error, duration_ms, "feed failed");
                return None;
            }
        };
        let fetched_at = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
        let status = fetched
            .status
            .map_or_else(|| "file".to_owned(), |s| s.as_u16().to_string());
        let records = match self.extractor.records(&fetched) {
            Ok(records) => records,
            Err(error) => {
                tracing::error!(%status, %error, duration_ms, "feed failed");
                return None;
            }
        };
        if records.is_empty() {
            tracing::warn!(%status, "response had no records");
        }
        tracing::info!(%status, records = records.len(), duration_ms, "polled");
        Some(
            records
                .into_iter()
                .map(|record| Message {
                    pipeline: self.pipeline.clone(),
                    feed: feed.feed.clone(),
                    fetched_at: fetched_at.clone(),
                    record,
                })
                .collect(),
        )
    }

    /// The body of one feed's request, retried as the policy says (files are read once).
    async fn fetch(&self, target: &Target, requests: &AtomicU64) -> Result<Fetched, FetchError> {
        match target {
            Target::Http { url, headers } => {
                tracing::debug!(url = %url, "requesting");
                self.retry
                    .run(|| {
                        requests.fetch_add(1, Ordering::Relaxed);
                        fetch::http(
                            &self.client,
                            url,
                            headers,
                            &self.ratelimit,
                            self.max_body_bytes,
                            self.timeout,
                        )
                    })
                    .await
            }
            Target::File(path) => {
                requests.fetch_add(1, Ordering::Relaxed);
                fetch::file(path, self.max_body_bytes).await
            }
        }
    }
}

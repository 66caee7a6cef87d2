//! The source stage: polls the pipeline's REST API (or a `file:` URL, for offline demos) once
//! per feed, turns each response into records with `source.records`, and wraps every record in
//! a [`Message`]. HTTP errors are retried; error bodies on HTTP 200 are errors, not records.
//!
//! - `request`: each feed's URL and headers, rendered and checked once when the source is
//!   compiled ([`CompiledSource`]; `template` fills the `{{key}}` placeholders).
//! - `fetch`: one attempt (HTTP GET or POST, or a file read), the body decompressed and capped
//!   at `source.max_body`.
//! - `retry`: the [`RetryPolicy`] (backoff, `Retry-After`).
//! - `body`: JSON, `source.errors`, `source.records`, and what records share with their
//!   response (member names, `root` values: [`Context`]).
//! - `paging`: `source.next`, the next page's URL; `poll`: one feed's pages and their messages.
//! - `ratelimit`: the API's rate-limit headers (`source.ratelimit_headers`).
//! - `schedule`: when to poll ([`Schedule`]: the cron in `source.timezone`, the `source.active`
//!   windows); `quota`: whether that stays within the API's quota.
//!
//! Compiling the section ([`CompiledSource::new`], with the [`Schedule`] parsed once before it)
//! is where its URL, cron expression and JSONPaths are checked, for `validate`, the poller and
//! `deploy-template` alike.

mod body;
mod fetch;
mod paging;
mod poll;
mod quota;
mod ratelimit;
mod request;
mod retry;
mod schedule;
mod template;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use tracing::Instrument;

pub use retry::RetryPolicy;
pub use schedule::Schedule;

use body::Extractor;
use fetch::Fetched;
use paging::Paging;
use ratelimit::RateLimitHeaders;
use request::{FeedRequest, Requests};

use crate::config::Located;
use crate::config::model::{Feed, Source};
use crate::diag::Diagnostic;
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
    /// For each message (same order), its record's index among the records `source.records`
    /// selected from its response: with the feed, where to find a record that cannot be queued.
    pub positions: Vec<usize>,
    /// Requests made (retries included).
    pub requests: u64,
    /// Feeds whose request failed after retries, or whose body was an error.
    pub failed_feeds: u64,
}

/// Why a poller cannot be built: the HTTP client cannot be set up.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SourceError(pub String);

/// The `source` section compiled with its feeds: every feed's request, the JSONPaths, the
/// schedule and the rate-limit header names.
#[derive(Clone)]
pub struct CompiledSource {
    requests: Requests,
    extractor: Extractor,
    paging: Option<Paging>,
    schedule: Schedule,
    ratelimit: RateLimitHeaders,
    timeout: Duration,
    max_body_bytes: usize,
}

impl CompiledSource {
    /// Compiles `source` for `feeds` with its parsed `schedule`; the error is every problem found
    /// (URL, headers, JSONPaths, rate-limit header names). `feeds` is `None` when that section
    /// did not parse, `schedule` when `source.schedule` did not ([`Schedule::new`] reports why):
    /// the requests cannot be built without the feeds (their templates need them), the rest is
    /// still checked, and the result is an error even when nothing else is wrong.
    pub fn new(
        source: &Source,
        schedule: Option<Schedule>,
        feeds: Option<&[Located<Feed>]>,
    ) -> Result<CompiledSource, Vec<Diagnostic>> {
        let requests = feeds.map(|feeds| request::build(source, feeds));
        let extractor = Extractor::new(&source.records, &source.errors);
        let ratelimit = RateLimitHeaders::new(&source.ratelimit_headers);
        let paging = Paging::new(source);
        match (requests, schedule, extractor, ratelimit, paging) {
            (Some(Ok(requests)), Some(schedule), Ok(extractor), Ok(ratelimit), Ok(paging)) => {
                let (paging, extractor) = match paging {
                    Some((paging, next)) => (Some(paging), extractor.with_next(next)),
                    None => (None, extractor),
                };
                Ok(CompiledSource {
                    requests,
                    extractor,
                    paging,
                    schedule,
                    ratelimit,
                    timeout: source.timeout.0,
                    max_body_bytes: usize::try_from(source.max_body.0).unwrap_or(usize::MAX),
                })
            }
            (requests, _, extractor, ratelimit, paging) => {
                let mut problems = requests.and_then(Result::err).unwrap_or_default();
                problems.extend(extractor.err().unwrap_or_default());
                problems.extend(ratelimit.err().unwrap_or_default());
                problems.extend(paging.err().unwrap_or_default());
                Err(problems)
            }
        }
    }

    /// The same source, sending with each record what the pipeline's fields take from outside
    /// it (`context`, from `process.fields`).
    pub fn with_context(mut self, context: &Context) -> CompiledSource {
        self.extractor = self
            .extractor
            .with_context(context.member_name, &context.root);
        self
    }
}

impl CompiledSource {
    /// The messages a poll of the pipeline `pipeline` would queue for a response `body` (a
    /// recorded response, say) fetched for `feed`, stamped `fetched_at`; the error says why the
    /// body gives none. Only the first page: tests and benchmarks on recorded responses use it.
    pub fn messages_of(
        &self,
        pipeline: &str,
        feed: &Map<String, Value>,
        fetched_at: &str,
        body: Vec<u8>,
    ) -> Result<Vec<Message>, String> {
        let fetched = Fetched {
            status: None,
            content_type: None,
            body,
        };
        let page = self
            .extractor
            .page(&fetched)
            .map_err(|err| err.to_string())?;
        Ok(poll::messages(page.records, &page.root, pipeline, feed, fetched_at).collect())
    }
}

/// What the fields take from a record's response besides the record: the source reads it from
/// each response and sends it in each record's message.
#[derive(Clone, Debug, Default)]
pub struct Context {
    /// A field takes the record's member name (`member_name: true`).
    pub member_name: bool,
    /// The fields' `root` JSONPaths, each once.
    pub root: Vec<Located<String>>,
}

/// The warnings about a source whose `schedule` parsed, whether the rest compiles or not: a
/// numeric day-of-week, active windows the schedule never fires in, and a schedule that makes
/// more requests than `source.quota` allows (`feeds` is `None` when that section did not parse:
/// one request per poll is assumed).
pub fn warnings(
    source: &Source,
    schedule: &Schedule,
    feeds: Option<&[Located<Feed>]>,
) -> Vec<Diagnostic> {
    let mut found: Vec<Diagnostic> = schedule::numeric_weekday(&source.schedule)
        .into_iter()
        .collect();
    if let Some(active) = &source.active {
        found.extend(schedule::never_active(schedule, active));
    }
    if let Some(quota) = &source.quota {
        let requests_per_poll = feeds.map_or(1, |f| f.len().max(1));
        found.extend(quota::check(schedule, quota, requests_per_poll));
    }
    found
}

/// Everything the poll loop needs: the compiled source, the HTTP client.
pub struct Poller {
    pipeline: String,
    feeds: Vec<FeedRequest>,
    extractor: Extractor,
    paging: Option<Paging>,
    schedule: Schedule,
    client: reqwest::Client,
    timeout: Duration,
    retry: RetryPolicy,
    max_body_bytes: usize,
    ratelimit: RateLimitHeaders,
    /// The pipeline file's directory: `file:` URLs read only inside it.
    base_dir: PathBuf,
}

impl Poller {
    /// Builds the poller of the pipeline named `pipeline` from its compiled source; `file:` URLs
    /// resolve against `base_dir` (the pipeline file's directory) and read only inside it. The values of
    /// credential-like headers and query parameters (`X-Api-Key`, `apikey=`) are added to
    /// `redactor`, which hides them in the returned error, and registered with the process
    /// ([`crate::redact::register`]), which hides them in every log line.
    pub fn new(
        pipeline: &str,
        source: CompiledSource,
        base_dir: &Path,
        mut redactor: Redactor,
    ) -> Result<Poller, SourceError> {
        let CompiledSource {
            requests,
            extractor,
            paging,
            schedule,
            ratelimit,
            timeout,
            max_body_bytes,
        } = source;
        for secret in requests.secrets {
            redactor.add(secret);
        }
        crate::redact::register(&redactor);
        let client = reqwest::Client::builder()
            .user_agent(concat!("stockrun/", env!("CARGO_PKG_VERSION")))
            .timeout(timeout)
            .redirect(fetch::redirect_policy())
            .build()
            .map_err(|err| {
                SourceError(
                    redactor
                        .redact(&format!("cannot build the HTTP client: {err}"))
                        .into_owned(),
                )
            })?;
        Ok(Poller {
            pipeline: pipeline.to_owned(),
            feeds: requests.feeds,
            extractor,
            paging,
            schedule,
            client,
            timeout,
            retry: RetryPolicy::default(),
            max_body_bytes,
            ratelimit: ratelimit.for_pipeline(pipeline),
            base_dir: base_dir.to_owned(),
        })
    }

    /// The name of the pipeline it polls for.
    pub fn pipeline(&self) -> &str {
        &self.pipeline
    }

    /// The same poller with another retry policy (tests use millisecond delays).
    pub fn with_retry(mut self, retry: RetryPolicy) -> Poller {
        self.retry = retry;
        self
    }

    /// When the next poll is due: the first firing of `source.schedule` (in `source.timezone`)
    /// strictly after `after` inside `source.active`, or `None` when there is none
    /// ([`Schedule::next_after`]).
    pub fn next_fire(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.schedule.next_after(after)
    }

    /// Whether `at` is inside `source.active` (always, without it): the Lambda's scheduled poll
    /// does nothing outside.
    pub fn is_active(&self, at: DateTime<Utc>) -> bool {
        self.schedule.is_active(at)
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
            let started = std::time::Instant::now();
            let polled = self.poll_feed(feed, &requests).instrument(span).await;
            crate::metrics::feed_polled(
                &self.pipeline,
                &feed.label,
                started.elapsed().as_secs_f64(),
                polled.failure.map_or(Ok(polled.messages.len()), Err),
            );
            report.positions.extend(polled.positions);
            report.messages.extend(polled.messages);
            if polled.failure.is_some() {
                report.failed_feeds += 1;
            }
        }
        report.requests = requests.into_inner();
        crate::metrics::polled(&self.pipeline, report.failed_feeds == 0);
        tracing::debug!(
            pipeline = %self.pipeline,
            messages = report.messages.len(),
            requests = report.requests,
            failed_feeds = report.failed_feeds,
            "poll finished"
        );
        report
    }
}

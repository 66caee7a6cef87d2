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
//!   response (member names, `root` values: [`Context`]); the common paths are followed through
//!   the body's text, one record parsed at a time.
//! - `paging`: `source.next`, the next page's URL; `poll`: one feed's pages and their messages;
//!   `round`: one poll of every feed, a few at a time, handed on in feed order ([`Sink`]).
//! - `pace`: `source.concurrency` and a per-second `source.quota`, for every request.
//! - `ratelimit`: the API's rate-limit headers (`source.ratelimit_headers`).
//! - `status`: each feed's last poll, kept by the poller where `stockrun serve` reads it
//!   ([`status::FeedStatusStore`], SQLite or DynamoDB).
//! - `schedule`: when to poll ([`Schedule`]: the cron in `source.timezone`, the `source.active`
//!   windows); `quota`: whether that stays within the API's quota.
//!
//! Compiling the section ([`CompiledSource::new`], with the [`Schedule`] parsed once before it)
//! is where its URL, cron expression and JSONPaths are checked, for `validate`, the poller and
//! `deploy-template` alike.

mod body;
mod fetch;
mod pace;
mod paging;
mod poll;
mod quota;
mod ratelimit;
mod request;
mod retry;
mod round;
mod schedule;
pub mod status;
mod template;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

pub use ratelimit::Quota;
pub use retry::RetryPolicy;
pub use round::{FeedPolled, Flow, PollReport, PollStats, Sink};
pub use schedule::Schedule;

use body::Extractor;
use fetch::Fetched;
use pace::{Limits, Pace};
use paging::Paging;
use poll::Fetcher;
use ratelimit::RateLimitHeaders;
use request::{FeedRequest, Requests};

use crate::config::Located;
use crate::config::model::{Feed, QuotaPeriod, Source};
use crate::diag::Diagnostic;
use crate::message::Message;
use crate::redact::Redactor;

/// The default largest response body (or `file:` file) read, `source.max_body`: 10 MiB. A bigger
/// one fails the feed.
pub const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;

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
    limits: Limits,
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
        let limits = Limits::new(source);
        match (requests, schedule, extractor, ratelimit, paging, limits) {
            (
                Some(Ok(requests)),
                Some(schedule),
                Ok(extractor),
                Ok(ratelimit),
                Ok(paging),
                Ok(limits),
            ) => {
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
                    limits,
                })
            }
            (requests, _, extractor, ratelimit, paging, limits) => {
                let mut problems = requests.and_then(Result::err).unwrap_or_default();
                problems.extend(extractor.err().unwrap_or_default());
                problems.extend(ratelimit.err().unwrap_or_default());
                problems.extend(paging.err().unwrap_or_default());
                problems.extend(limits.err().unwrap_or_default());
                Err(problems)
            }
        }
    }

    /// The labels the feed status and the metrics know this source's feeds by, in the
    /// pipeline's order: what `serve` lists, so a feed removed from the file is not shown
    /// with its last poll forever.
    pub fn feed_labels(&self) -> Vec<String> {
        self.requests
            .feeds
            .iter()
            .map(|feed| crate::metrics::feed_label(&feed.label))
            .collect()
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
            .page(fetched)
            .map_err(|err| err.to_string())?;
        Ok(page
            .records
            .into_iter()
            .map(|selected| Message {
                pipeline: pipeline.to_owned(),
                feed: feed.clone(),
                fetched_at: fetched_at.to_owned(),
                record: selected.record,
                member: selected.member,
                root: page.root.clone(),
            })
            .collect())
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
/// more requests than `source.quota` allows, or, with a quota per second (which the poller
/// paces its requests to), polls that take longer than the time between firings (`feeds` is
/// `None` when that section did not parse: one request per poll is assumed).
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
        found.extend(match quota.per {
            // The poller keeps to it: the question is whether a poll ends in time.
            QuotaPeriod::Second => quota::check_pace(schedule, quota, requests_per_poll),
            _ => quota::check(schedule, quota, requests_per_poll),
        });
    }
    found
}

/// Everything the poll loop needs: the compiled source, the HTTP client.
pub struct Poller {
    pipeline: String,
    feeds: Vec<Arc<FeedRequest>>,
    extractor: Extractor,
    paging: Option<Paging>,
    schedule: Schedule,
    /// `source.concurrency`: feeds requested at once.
    concurrency: usize,
    fetcher: Arc<Fetcher>,
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
            limits,
        } = source;
        for secret in requests.secrets {
            redactor.add(secret);
        }
        crate::redact::register(&redactor);
        Ok(Poller {
            pipeline: pipeline.to_owned(),
            feeds: requests.feeds.into_iter().map(Arc::new).collect(),
            extractor,
            paging,
            schedule,
            concurrency: limits.concurrency,
            fetcher: Arc::new(Fetcher {
                client: Arc::new(fetch::LazyClient::new(timeout)),
                timeout,
                retry: RetryPolicy::default(),
                max_body_bytes,
                ratelimit: ratelimit.for_pipeline(pipeline),
                pace: Arc::new(Pace::new(limits)),
                base_dir: base_dir.to_owned(),
            }),
        })
    }

    /// The name of the pipeline it polls for.
    pub fn pipeline(&self) -> &str {
        &self.pipeline
    }

    /// The same poller with another retry policy (tests use millisecond delays).
    pub fn with_retry(mut self, retry: RetryPolicy) -> Poller {
        Arc::make_mut(&mut self.fetcher).retry = retry;
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
}

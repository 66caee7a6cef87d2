//! One feed's poll: its pages (`source.next`, at most `max_pages`), each fetched with the
//! retry policy at the poll's pace, its records written straight into their messages' bodies
//! and handed on, a hundred at a time.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{SecondsFormat, Utc};

use super::Poller;
use super::body::Reading;
use super::fetch::{self, FetchError, Fetched};
use super::pace::Pace;
use super::ratelimit::{LastQuota, RateLimitHeaders};
use super::request::{FeedRequest, Target};
use super::retry::RetryPolicy;
use super::round::{Flow, Sink};
use crate::message::MessageRef;
use crate::metrics::FailureKind;

/// One response as it arrived: the body, when, and how long the request took.
pub(super) struct Arrived {
    fetched: Fetched,
    /// When the response arrived, RFC 3339 UTC with milliseconds (the messages' `fetched_at`).
    at: String,
    duration_ms: u64,
}

/// How many records are written into their messages' bodies and handed to the sink at a time:
/// a page of 10 000 records is never 10 000 bodies at once (2.9 MB in bench/drain-rss).
const CHUNK: usize = 100;

/// How one feed's poll ended.
pub(super) struct FeedEnd {
    /// Records handed on.
    pub(super) records: u64,
    /// Why it failed, when a request failed, a body was an error, or a next page could not be
    /// requested.
    pub(super) failure: Option<FailureKind>,
    /// Whether the sink asked the poll to stop.
    pub(super) stop: bool,
}

/// What a request needs, shared by the poller and the requests it has in flight.
#[derive(Clone)]
pub(super) struct Fetcher {
    /// The HTTP client (its connections are shared by every request), built on first use.
    pub(super) client: Arc<fetch::LazyClient>,
    /// `source.timeout`, per attempt.
    pub(super) timeout: Duration,
    /// Retries of a failed attempt.
    pub(super) retry: RetryPolicy,
    /// `source.max_body`.
    pub(super) max_body_bytes: usize,
    /// The rate-limit headers logged from each response.
    pub(super) ratelimit: RateLimitHeaders,
    /// Every request of every poll of this poller goes through it.
    pub(super) pace: Arc<Pace>,
    /// The pipeline file's directory: `file:` URLs read only inside it.
    pub(super) base_dir: PathBuf,
}

impl Fetcher {
    /// One page of a feed (at `url`, which replaces the feed's own for a later page), or why the
    /// request failed after retries (logged here); `quota` keeps what the responses' rate-limit
    /// headers said.
    pub(super) async fn fetch_page(
        &self,
        feed: &FeedRequest,
        url: Option<&reqwest::Url>,
        requests: &AtomicU64,
        quota: &LastQuota,
    ) -> Result<Arrived, FailureKind> {
        let started = Instant::now();
        let fetched = self.fetch(&feed.target, url, requests, quota).await;
        let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        match fetched {
            Ok(fetched) => Ok(Arrived {
                fetched,
                at: Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
                duration_ms,
            }),
            Err(error) => {
                tracing::error!(%error, duration_ms, "feed failed");
                Err(error.kind())
            }
        }
    }

    /// The body of one request of a feed (to `url`, which replaces the feed's own for a later
    /// page), retried as the policy says (files are read once).
    async fn fetch(
        &self,
        target: &Target,
        url: Option<&reqwest::Url>,
        requests: &AtomicU64,
        quota: &LastQuota,
    ) -> Result<Fetched, FetchError> {
        match target {
            Target::Http {
                method,
                url: own,
                headers,
                body,
            } => {
                let request = fetch::Request {
                    method: *method,
                    url: url.unwrap_or(own),
                    headers,
                    body: body.as_deref(),
                };
                tracing::debug!(url = %request.url, method = method.name(), "requesting");
                self.retry
                    .run(|| {
                        self.pace.request(async {
                            requests.fetch_add(1, Ordering::Relaxed);
                            fetch::http(
                                self.client.get()?,
                                &request,
                                &self.ratelimit,
                                quota,
                                self.max_body_bytes,
                                self.timeout,
                            )
                            .await
                        })
                    })
                    .await
            }
            Target::File(path) => {
                self.pace
                    .request(async {
                        requests.fetch_add(1, Ordering::Relaxed);
                        fetch::file(&self.base_dir, path, self.max_body_bytes, self.timeout).await
                    })
                    .await
            }
        }
    }
}

impl Poller {
    /// The rest of one feed's poll from its `first` page (already fetched, or `None` when that
    /// failed): each page's records handed to `sink`, then the next page requested, up to
    /// `max_pages` (their rate-limit headers kept in `quota`). A failure is logged here; the
    /// pages before it keep their records.
    pub(super) async fn feed_pages(
        &self,
        feed: &FeedRequest,
        first: Result<Arrived, FailureKind>,
        sink: &mut impl Sink,
        requests: &AtomicU64,
        quota: &LastQuota,
    ) -> FeedEnd {
        let mut end = FeedEnd {
            records: 0,
            failure: None,
            stop: false,
        };
        let first_url = match &feed.target {
            Target::Http { url, .. } => Some(url),
            Target::File(_) => None,
        };
        let mut url = first_url.cloned();
        let mut arrived = first;
        let mut pages = 0u32;
        loop {
            pages += 1;
            let (reading, at) = match arrived.and_then(|page| self.open(page)) {
                Ok(opened) => opened,
                Err(kind) => {
                    end.failure = Some(kind);
                    return end;
                }
            };
            match self.hand_on(feed, &reading, &at, sink).await {
                Ok(Flow::Continue) => {}
                Ok(Flow::Stop) => {
                    end.records += reading.len() as u64;
                    end.stop = true;
                    return end;
                }
                Err(kind) => {
                    end.failure = Some(kind);
                    return end;
                }
            }
            end.records += reading.len() as u64;
            // The page's bytes go before the next page is requested.
            let next = reading.into_next();
            let (Some(paging), Some(first), Some(current)) = (&self.paging, first_url, &url) else {
                return end;
            };
            let next = next.and_then(|value| {
                value
                    .map(|value| paging.next_url(first, current, &value))
                    .transpose()
                    .map_err(|error| error.to_string())
            });
            match next {
                Ok(None) => return end,
                Ok(Some(_)) if pages >= paging.max_pages => {
                    tracing::warn!(
                        max_pages = paging.max_pages,
                        "more pages remain: stopped at `source.next.max_pages`"
                    );
                    return end;
                }
                Ok(Some(next)) => {
                    arrived = self
                        .fetcher
                        .fetch_page(feed, Some(&next), requests, quota)
                        .await;
                    url = Some(next);
                }
                Err(error) => {
                    tracing::error!(%error, page = pages, "next page not requested");
                    end.failure = Some(FailureKind::BodyRejected);
                    return end;
                }
            }
        }
    }

    /// Reads one page (its `errors`, `root` values and next page), with when it arrived; a
    /// rejected body is logged here.
    fn open(&self, page: Arrived) -> Result<(Reading, String), FailureKind> {
        let Arrived {
            fetched,
            at,
            duration_ms,
        } = page;
        let status = fetched
            .status
            .map_or_else(|| "file".to_owned(), |s| s.as_u16().to_string());
        match self.extractor.open(fetched) {
            Ok(reading) => {
                if reading.len() == 0 {
                    tracing::warn!(%status, "response had no records");
                }
                tracing::info!(%status, records = reading.len(), duration_ms, "polled");
                Ok((reading, at))
            }
            Err(error) => {
                tracing::error!(%status, %error, duration_ms, "feed failed");
                Err(FailureKind::BodyRejected)
            }
        }
    }

    /// Hands one page's records to `sink` in record order, [`CHUNK`] at a time (each written
    /// into its message's body as it is read), every one of them even when the sink asks the
    /// poll to stop (it counts what it does not send): whether it did. A record that cannot be
    /// read fails the feed (logged here); the ones before it were handed on.
    async fn hand_on(
        &self,
        feed: &FeedRequest,
        reading: &Reading,
        at: &str,
        sink: &mut impl Sink,
    ) -> Result<Flow, FailureKind> {
        let mut flow = Flow::Continue;
        let mut first = 0;
        loop {
            let mut bodies = Vec::with_capacity(CHUNK.min(reading.len() - first));
            let read = reading.each_in(first..first + CHUNK, |record| {
                bodies.push(
                    MessageRef {
                        pipeline: &self.pipeline,
                        feed: &feed.feed,
                        fetched_at: at,
                        record: record.value,
                        member: record.member,
                        root: record.root,
                    }
                    .to_body(),
                );
            });
            if let Err(error) = read {
                tracing::error!(%error, "feed failed");
                return Err(FailureKind::BodyRejected);
            }
            if sink.take(&feed.feed, first, bodies).await == Flow::Stop {
                flow = Flow::Stop;
            }
            first += CHUNK;
            if first >= reading.len() {
                return Ok(flow);
            }
        }
    }
}

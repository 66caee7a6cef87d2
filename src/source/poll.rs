//! One feed's poll: its pages (`source.next`, at most `max_pages`), each fetched with the
//! retry policy and split into records, and the messages they make.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use chrono::{SecondsFormat, Utc};
use serde_json::{Map, Value};

use super::Poller;
use super::body::{self, Selected};
use super::fetch::{self, FetchError, Fetched};
use super::request::{FeedRequest, Target};
use crate::message::Message;
use crate::metrics::FailureKind;

impl Poller {
    /// One feed's messages, page after page (`source.next`) up to `max_pages`. A failure is
    /// logged here; the pages before it keep their records.
    pub(super) async fn poll_feed(&self, feed: &FeedRequest, requests: &AtomicU64) -> FeedPoll {
        let mut polled = FeedPoll::default();
        let first = match &feed.target {
            Target::Http { url, .. } => Some(url),
            Target::File(_) => None,
        };
        let mut url = first.cloned();
        let mut pages = 0u32;
        loop {
            pages += 1;
            let page = match self.poll_page(feed, url.as_ref(), requests).await {
                Ok(page) => page,
                Err(kind) => {
                    polled.failure = Some(kind);
                    return polled;
                }
            };
            polled.positions.extend(0..page.records.len());
            let fetched_at = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
            polled.messages.extend(messages(
                page.records,
                &page.root,
                &self.pipeline,
                &feed.feed,
                &fetched_at,
            ));
            let (Some(paging), Some(first), Some(current)) = (&self.paging, first, &url) else {
                return polled;
            };
            let next = page.next.and_then(|value| {
                value
                    .map(|value| paging.next_url(first, current, &value))
                    .transpose()
                    .map_err(|error| error.to_string())
            });
            match next {
                Ok(None) => return polled,
                Ok(Some(_)) if pages >= paging.max_pages => {
                    tracing::warn!(
                        max_pages = paging.max_pages,
                        "more pages remain: stopped at `source.next.max_pages`"
                    );
                    return polled;
                }
                Ok(Some(next)) => url = Some(next),
                Err(error) => {
                    tracing::error!(%error, page = pages, "next page not requested");
                    polled.failure = Some(FailureKind::BodyRejected);
                    return polled;
                }
            }
        }
    }

    /// One page of a feed (at `url`, for HTTP), or why it failed (logged here).
    async fn poll_page(
        &self,
        feed: &FeedRequest,
        url: Option<&reqwest::Url>,
        requests: &AtomicU64,
    ) -> Result<body::Page, FailureKind> {
        let started = Instant::now();
        let fetched = self.fetch(&feed.target, url, requests).await;
        let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let fetched = match fetched {
            Ok(fetched) => fetched,
            Err(error) => {
                tracing::error!(%error, duration_ms, "feed failed");
                return Err(error.kind());
            }
        };
        let status = fetched
            .status
            .map_or_else(|| "file".to_owned(), |s| s.as_u16().to_string());
        let page = match self.extractor.page(&fetched) {
            Ok(page) => page,
            Err(error) => {
                tracing::error!(%status, %error, duration_ms, "feed failed");
                return Err(FailureKind::BodyRejected);
            }
        };
        if page.records.is_empty() {
            tracing::warn!(%status, "response had no records");
        }
        tracing::info!(%status, records = page.records.len(), duration_ms, "polled");
        Ok(page)
    }

    /// The body of one request of a feed (to `url`, which replaces the feed's own for a later
    /// page), retried as the policy says (files are read once).
    async fn fetch(
        &self,
        target: &Target,
        url: Option<&reqwest::Url>,
        requests: &AtomicU64,
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
                        requests.fetch_add(1, Ordering::Relaxed);
                        fetch::http(
                            &self.client,
                            &request,
                            &self.ratelimit,
                            self.max_body_bytes,
                            self.timeout,
                        )
                    })
                    .await
            }
            Target::File(path) => {
                requests.fetch_add(1, Ordering::Relaxed);
                fetch::file(&self.base_dir, path, self.max_body_bytes, self.timeout).await
            }
        }
    }
}

/// The messages of one page's records.
pub(super) fn messages<'p>(
    records: Vec<Selected>,
    root: &'p Map<String, Value>,
    pipeline: &'p str,
    feed: &'p Map<String, Value>,
    fetched_at: &'p str,
) -> impl Iterator<Item = Message> + 'p {
    records.into_iter().map(move |selected| Message {
        pipeline: pipeline.to_owned(),
        feed: feed.clone(),
        fetched_at: fetched_at.to_owned(),
        record: selected.record,
        member: selected.member,
        root: root.clone(),
    })
}

/// What one feed's poll produced.
#[derive(Default)]
pub(super) struct FeedPoll {
    /// One message per record, over every page.
    pub(super) messages: Vec<Message>,
    /// Each record's index among its page's records.
    pub(super) positions: Vec<usize>,
    /// Why it failed, when a request failed, a body was an error, or a next page could not be
    /// requested.
    pub(super) failure: Option<FailureKind>,
}

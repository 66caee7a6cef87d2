//! One poll of every feed. Feeds' first pages are requested up to `source.concurrency` at a
//! time (each a task of its own, at the pace `pace` sets), and their pages handed to a [`Sink`]
//! one at a time (a hundred records at a time), in feed order whatever order the responses
//! arrive in: the queue, `--dry-run` and the tests see the same order as a poll one feed after
//! another. At most `concurrency` responses wait their turn (one for `file:` URLs), each as it
//! arrived (bytes, not parsed), and one is read at a time, so a poll's memory is bounded by a
//! few responses, not by the number of feeds. A feed that answers slowly holds back the
//! `concurrency` feeds after it, not the whole poll. How each feed's poll ended ([`FeedPolled`])
//! comes back in [`PollStats`], for the feed status (`status`).

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use serde_json::{Map, Value};
use tracing::Instrument;

use super::Poller;
use super::ratelimit::{LastQuota, Quota};
use super::request::{FeedRequest, Target};
use crate::message::Message;
use crate::metrics::FailureKind;

/// What one poll made and found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PollStats {
    /// Requests made (retries included).
    pub requests: u64,
    /// Feeds whose request failed after retries, or whose body was an error.
    pub failed_feeds: u64,
    /// Records handed on.
    pub records: u64,
    /// How each feed's poll ended, in feed order (the feeds a stop left unpolled are absent).
    pub feeds: Vec<FeedPolled>,
}

/// How one feed's poll ended: what the feed status records of it. Holds no URL (it may carry
/// a key): the feed is named by its label.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeedPolled {
    /// The feed's label as the metrics name it (`symbol=MSFT`; `-` without `feeds`:
    /// [`crate::metrics::feed_label`]).
    pub feed: String,
    /// When its poll ended.
    pub at: DateTime<Utc>,
    /// Records handed on (those of the pages before a failure too).
    pub records: u64,
    /// Why it failed, when it did.
    pub failure: Option<FailureKind>,
    /// The allowance its latest response with rate-limit headers reported.
    pub quota: Option<Quota>,
}

/// Whether a poll goes on after a page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Request the next page or feed.
    Continue,
    /// Request nothing more: the poll ends (requests in flight are dropped).
    Stop,
}

/// Where a poll hands its records, a few of a page at a time, in feed order.
pub trait Sink: Send {
    /// Takes some of one page's records of `feed` (its keys and values; empty without
    /// `feeds`), as the bodies of their messages ([`Message::to_body`]), in the order
    /// `source.records` selected them; `first` is the first one's index among the page's
    /// records. A page comes in one call or more, in order (one, with no bodies, when it has no
    /// records), and in full even after a call asked the poll to stop.
    fn take(
        &mut self,
        feed: &Map<String, Value>,
        first: usize,
        bodies: Vec<String>,
    ) -> impl Future<Output = Flow> + Send;
}

/// What [`Poller::poll_once`] returns: every record of the poll, kept.
#[derive(Debug, Default)]
pub struct PollReport {
    /// One message per record, across every feed.
    pub messages: Vec<Message>,
    /// For each message (same order), its record's index among the records `source.records`
    /// selected from its response.
    pub positions: Vec<usize>,
    /// Requests made (retries included).
    pub requests: u64,
    /// Feeds whose request failed after retries, or whose body was an error.
    pub failed_feeds: u64,
}

impl Sink for PollReport {
    async fn take(
        &mut self,
        _feed: &Map<String, Value>,
        first: usize,
        bodies: Vec<String>,
    ) -> Flow {
        for (position, body) in (first..).zip(&bodies) {
            // Written from a message just before: it reads back (else it is left out).
            if let Ok(message) = serde_json::from_str::<Message>(body) {
                self.messages.push(message);
                self.positions.push(position);
            }
        }
        Flow::Continue
    }
}

impl Poller {
    /// Requests every feed once and hands each page's records to `sink`, in feed order.
    /// Failures are logged and counted, never returned: the poll loop must go on.
    pub async fn poll(&self, sink: &mut impl Sink) -> PollStats {
        let requests = Arc::new(AtomicU64::new(0));
        let mut stats = PollStats::default();
        // Owned feeds (`Arc`s): a closure taking a borrowed one makes the poll's future not
        // `Send` (rust-lang/rust#102211).
        let mut firsts = futures_util::stream::iter(self.feeds.clone())
            .map(|feed| {
                let span = self.span(&feed);
                let (fetcher, fetched) = (Arc::clone(&self.fetcher), Arc::clone(&feed));
                let requests = Arc::clone(&requests);
                let quota = Arc::new(LastQuota::default());
                let seen = Arc::clone(&quota);
                let started = std::time::Instant::now();
                // A task of its own: the request goes on while earlier feeds are handed on.
                let first = Aborting(tokio::spawn(
                    async move { fetcher.fetch_page(&fetched, None, &requests, &seen).await }
                        .instrument(span.clone()),
                ));
                async move { (feed, span, started, quota, first.await) }
            })
            .buffered(self.ahead());
        while let Some((feed, span, started, quota, first)) = firsts.next().await {
            let first = first.unwrap_or_else(|error| {
                tracing::error!(parent: &span, %error, "feed failed: its request ended early");
                Err(FailureKind::Transport)
            });
            let end = self
                .feed_pages(&feed, first, sink, &requests, &quota)
                .instrument(span)
                .await;
            stats.records += end.records;
            stats.failed_feeds += u64::from(end.failure.is_some());
            crate::metrics::feed_polled(
                &self.pipeline,
                &feed.label,
                started.elapsed().as_secs_f64(),
                end.failure.map_or(Ok(end.records as usize), Err),
            );
            stats.feeds.push(FeedPolled {
                feed: crate::metrics::feed_label(&feed.label),
                at: Utc::now(),
                records: end.records,
                failure: end.failure,
                quota: quota.get(),
            });
            if end.stop {
                break;
            }
        }
        // Requests still in flight after a stop are dropped with `firsts` (aborted).
        drop(firsts);
        stats.requests = requests.load(Ordering::Relaxed);
        crate::metrics::polled(&self.pipeline, stats.failed_feeds == 0);
        tracing::debug!(
            pipeline = %self.pipeline,
            records = stats.records,
            requests = stats.requests,
            failed_feeds = stats.failed_feeds,
            "poll finished"
        );
        stats
    }

    /// Requests every feed once and keeps every record ([`Poller::poll`] into a
    /// [`PollReport`]): for `--dry-run`, `invoke` and tests, which show them all.
    pub async fn poll_once(&self) -> PollReport {
        let mut report = PollReport::default();
        let stats = self.poll(&mut report).await;
        report.requests = stats.requests;
        report.failed_feeds = stats.failed_feeds;
        report
    }

    /// How many feeds' first pages are requested ahead of the one handed on: `concurrency`
    /// for HTTP, to overlap the API's latency; one for `file:` URLs, which have none to hide,
    /// so a poll of recorded responses holds one response at a time.
    fn ahead(&self) -> usize {
        match self.feeds.first().map(|feed| &feed.target) {
            Some(Target::File(_)) => 1,
            _ => self.concurrency,
        }
    }

    /// The span of one feed's requests and log lines: the pipeline and the feed.
    fn span(&self, feed: &FeedRequest) -> tracing::Span {
        let span = tracing::info_span!(
            "poll",
            pipeline = %self.pipeline,
            feed = tracing::field::Empty
        );
        if !feed.label.is_empty() {
            span.record("feed", feed.label.as_str());
        }
        span
    }
}

/// A task's handle that aborts the task when dropped: a poll that stops leaves no request behind.
struct Aborting<T>(tokio::task::JoinHandle<T>);

impl<T> Future for Aborting<T> {
    type Output = Result<T, tokio::task::JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx)
    }
}

impl<T> Drop for Aborting<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

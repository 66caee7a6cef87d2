//! The feed status: each feed's last poll, written by the poller after every poll round (local
//! `run`/`poll` and the Lambda's scheduled poll) and read by `stockrun serve`, which is another
//! process and so cannot see the metrics. Per feed, by its label ([`FeedPolled::feed`]; never
//! its URL, which may hold a key): when it was last polled, how that ended (`ok` or the failure
//! kind, as `metrics::FailureKind` labels it), the records it gave, when it last answered, and
//! the API's allowance as its latest response's rate-limit headers said.
//!
//! [`FeedStatus::after`] is the one rule for what a poll changes, for both backends: `local` (a
//! table in the pipeline's SQLite file) and `dynamodb` (items of the pipeline's alert table).
//! Writing it never fails a poll: the poll loop logs a warning and goes on.

pub mod dynamodb;
pub mod local;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{FeedPolled, Quota};
use crate::store::StoreError;

/// The outcome of a poll whose feed answered (with records or none).
pub const OK: &str = crate::metrics::OK;

/// One feed's status after its latest poll.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeedStatus {
    /// The feed's label (`symbol=MSFT`; `-` for a source without `feeds`).
    pub feed: String,
    /// When it was last polled.
    pub polled_at: DateTime<Utc>,
    /// How that poll ended: [`OK`], or the failure kind (`http_4xx`, `timeout`, …).
    pub outcome: String,
    /// Records that poll gave.
    pub records: u64,
    /// When a poll of it last ended [`OK`] (`None`: never since the status was kept).
    pub last_ok_at: Option<DateTime<Utc>>,
    /// The API's allowance as its latest response with rate-limit headers said.
    pub quota: Option<Quota>,
}

impl FeedStatus {
    /// The status after `poll`, given the one recorded before it (`previous`): a failed poll
    /// keeps the time of the last successful one, and the quota when its responses said none
    /// (a timeout says nothing about the allowance); a successful poll replaces both.
    pub fn after(poll: &FeedPolled, previous: Option<&FeedStatus>) -> FeedStatus {
        let ok = poll.failure.is_none();
        FeedStatus {
            feed: poll.feed.clone(),
            polled_at: poll.at,
            outcome: poll
                .failure
                .map_or(OK, crate::metrics::FailureKind::label)
                .to_owned(),
            records: poll.records,
            last_ok_at: if ok {
                Some(poll.at)
            } else {
                previous.and_then(|status| status.last_ok_at)
            },
            quota: if ok {
                poll.quota
            } else {
                poll.quota
                    .or_else(|| previous.and_then(|status| status.quota))
            },
        }
    }

    /// Whether its last poll ended [`OK`].
    pub fn is_ok(&self) -> bool {
        self.outcome == OK
    }
}

/// Where the feed status is kept.
#[async_trait]
pub trait FeedStatusStore: Send + Sync {
    /// Records one poll round: each feed's status becomes [`FeedStatus::after`] its poll. Locally
    /// one transaction; on AWS one BatchWriteItem per 25 feeds (after one BatchGetItem of the
    /// failed feeds' statuses, when a feed failed).
    async fn record(&self, polls: &[FeedPolled]) -> Result<(), StoreError>;

    /// Every feed's status, by label (none before the first poll).
    async fn all(&self) -> Result<Vec<FeedStatus>, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::FailureKind;

    pub(crate) fn polled(at: i64, failure: Option<FailureKind>, quota: Option<u64>) -> FeedPolled {
        FeedPolled {
            feed: "symbol=MSFT".to_owned(),
            at: DateTime::from_timestamp(at, 0).unwrap(),
            records: if failure.is_none() { 3 } else { 0 },
            failure,
            quota: quota.map(|remaining| Quota {
                remaining,
                limit: Some(500),
            }),
        }
    }

    #[test]
    fn a_failed_poll_keeps_the_last_ok_time_and_the_quota_its_responses_did_not_say() {
        let ok = FeedStatus::after(&polled(100, None, Some(412)), None);
        assert_eq!(ok.outcome, "ok");
        assert_eq!(ok.last_ok_at, Some(ok.polled_at));
        let timeout = FeedStatus::after(&polled(160, Some(FailureKind::Timeout), None), Some(&ok));
        assert_eq!(timeout.outcome, "timeout");
        assert_eq!(timeout.records, 0);
        assert_eq!(timeout.last_ok_at, ok.last_ok_at);
        assert_eq!(timeout.quota, ok.quota);
        let throttled = FeedStatus::after(
            &polled(220, Some(FailureKind::Http4xx), Some(0)),
            Some(&timeout),
        );
        assert_eq!(throttled.quota.map(|q| q.remaining), Some(0));
        assert_eq!(throttled.last_ok_at, ok.last_ok_at);
    }

    #[test]
    fn a_successful_poll_replaces_the_quota_even_with_none() {
        let before = FeedStatus::after(&polled(100, None, Some(412)), None);
        let after = FeedStatus::after(&polled(160, None, None), Some(&before));
        assert_eq!(after.quota, None);
        assert_eq!(
            after.last_ok_at,
            Some(DateTime::from_timestamp(160, 0).unwrap())
        );
        let never = FeedStatus::after(&polled(100, Some(FailureKind::Http4xx), None), None);
        assert_eq!((never.last_ok_at, never.is_ok()), (None, false));
    }
}

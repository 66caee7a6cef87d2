//! The feed status contract: what `serve` relies on from any `FeedStatusStore` — a poll round
//! reads back by label, a failed poll keeps the time of the last successful one and the quota
//! its responses did not say, an empty store reads as no feeds — run against the SQLite table
//! (`local::…`) and the alert table's `feed` partition in moto (`dynamodb::…`), where the
//! requests of a round are counted too (one BatchWriteItem; a BatchGetItem before it only when a
//! feed failed).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use stockrun::aws::Aws;
use stockrun::metrics::FailureKind;
use stockrun::source::status::dynamodb::DynamoDbFeedStatus;
use stockrun::source::status::local::LocalFeedStatus;
use stockrun::source::status::{FeedStatus, FeedStatusStore};
use stockrun::source::{FeedPolled, Quota};
use tempfile::TempDir;

use super::contract_tests;
use super::ledger::create_table;
use crate::moto::{aws_at, moto_url, unique};

/// The two implementations of the contract.
#[derive(Clone, Copy, Debug)]
enum Backend {
    /// `LocalFeedStatus` in a SQLite file of its own.
    Local,
    /// `DynamoDbFeedStatus` in a moto alert table of its own.
    DynamoDb,
}

/// A status store under test, and what must live as long as it.
struct Subject {
    status: Arc<dyn FeedStatusStore>,
    aws: Option<Arc<Aws>>,
    _dir: Option<TempDir>,
}

impl Subject {
    /// Requests sent to AWS so far (`None` on the local backend).
    fn requests(&self) -> Option<u64> {
        self.aws.as_ref().map(|aws| aws.requests())
    }
}

impl Backend {
    async fn status(self) -> Subject {
        match self {
            Backend::Local => {
                let dir = tempfile::tempdir().expect("a temporary directory");
                let status = LocalFeedStatus::open(&dir.path().join("state.db")).expect("opens");
                Subject {
                    status: Arc::new(status),
                    aws: None,
                    _dir: Some(dir),
                }
            }
            Backend::DynamoDb => {
                let aws = aws_at(&moto_url()).await;
                let table = stockrun::naming::alert_table(&unique("feeds"));
                create_table(&aws, &table).await;
                Subject {
                    status: Arc::new(DynamoDbFeedStatus::new(Arc::clone(&aws), &table)),
                    aws: Some(aws),
                    _dir: None,
                }
            }
        }
    }
}

fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_764_331_200 + seconds, 0).expect("a time")
}

fn polled(
    feed: &str,
    seconds: i64,
    failure: Option<FailureKind>,
    quota: Option<u64>,
) -> FeedPolled {
    FeedPolled {
        feed: feed.to_owned(),
        at: at(seconds),
        records: if failure.is_none() { 5 } else { 0 },
        failure,
        quota: quota.map(|remaining| Quota {
            remaining,
            limit: Some(500),
        }),
    }
}

async fn a_round_reads_back_by_label(backend: Backend) {
    let subject = backend.status().await;
    assert!(subject.status.all().await.expect("reads").is_empty());
    let before = subject.requests();

    subject
        .status
        .record(&[
            polled("symbol=MSFT", 0, None, Some(412)),
            polled("symbol=INFY", 1, None, None),
        ])
        .await
        .expect("recorded");

    if let Some(before) = before {
        assert_eq!(subject.requests(), Some(before + 1), "one BatchWriteItem");
    }
    let all = subject.status.all().await.expect("reads");
    assert_eq!(
        all,
        [
            FeedStatus {
                feed: "symbol=INFY".to_owned(),
                polled_at: at(1),
                outcome: "ok".to_owned(),
                records: 5,
                last_ok_at: Some(at(1)),
                quota: None,
            },
            FeedStatus {
                feed: "symbol=MSFT".to_owned(),
                polled_at: at(0),
                outcome: "ok".to_owned(),
                records: 5,
                last_ok_at: Some(at(0)),
                quota: Some(Quota {
                    remaining: 412,
                    limit: Some(500),
                }),
            },
        ]
    );
}

async fn a_failed_poll_keeps_the_last_ok_poll_and_the_quota_it_did_not_say(backend: Backend) {
    let subject = backend.status().await;
    let status = &subject.status;
    status
        .record(&[polled("-", 0, None, Some(412))])
        .await
        .expect("recorded");
    let before = subject.requests();

    status
        .record(&[polled("-", 60, Some(FailureKind::Timeout), None)])
        .await
        .expect("recorded");

    if let Some(before) = before {
        assert_eq!(
            subject.requests(),
            Some(before + 2),
            "a BatchGetItem of the failed feed, then the BatchWriteItem"
        );
    }
    let timed_out = status.all().await.expect("reads").remove(0);
    assert_eq!(timed_out.outcome, "timeout");
    assert_eq!(timed_out.polled_at, at(60));
    assert_eq!(timed_out.records, 0);
    assert_eq!(timed_out.last_ok_at, Some(at(0)));
    assert_eq!(timed_out.quota.map(|q| q.remaining), Some(412));

    status
        .record(&[polled("-", 120, Some(FailureKind::Http4xx), Some(0))])
        .await
        .expect("recorded");
    let throttled = status.all().await.expect("reads").remove(0);
    assert_eq!(throttled.outcome, "http_4xx");
    assert_eq!(throttled.last_ok_at, Some(at(0)));
    assert_eq!(throttled.quota.map(|q| q.remaining), Some(0));
}

contract_tests! {
    local = Backend::Local, dynamodb = Backend::DynamoDb;
    a_round_reads_back_by_label;
    a_failed_poll_keeps_the_last_ok_poll_and_the_quota_it_did_not_say;
}

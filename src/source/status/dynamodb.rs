//! The feed status on AWS: items of the pipeline's alert table (`naming::alert_table`, which
//! every pipeline on AWS has), `pk = "feed", sk = <feed label>`, with `polled_at` (N), `outcome`
//! (S), `records` (N) and, when known, `last_ok_at` (N), `quota_remaining` (N) and
//! `quota_limit` (N); times in microseconds since the epoch (`alert::ledger::dynamodb` lists
//! the table's other partitions). A poll round is one BatchWriteItem of Puts per 25 feeds,
//! after one BatchGetItem of the failed feeds' items when a feed failed (a failed poll keeps
//! their last successful poll: [`FeedStatus::after`]); unprocessed items are retried. Reading
//! is a Query of the partition.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use backon::{BackoffBuilder, ExponentialBuilder};
use chrono::{DateTime, Utc};

use super::{FeedStatus, FeedStatusStore};
use crate::aws::Aws;
use crate::source::{FeedPolled, Quota};
use crate::store::StoreError;
use crate::store::dynamodb::MAX_BATCH_WRITE;
use crate::store::dynamodb::batch::{Attributes, get_items, query_partition, write_items};

/// The partition of the feed status in the alert table.
pub const PARTITION: &str = "feed";
/// The key attribute names (`naming::alert_table_key`).
const PK: &str = "pk";
const SK: &str = "sk";
/// The most keys one BatchGetItem may ask for.
const MAX_BATCH_GET: usize = 100;

/// The feed status of one pipeline in its alert table.
pub struct DynamoDbFeedStatus {
    aws: Arc<Aws>,
    table: String,
    retry: ExponentialBuilder,
}

impl DynamoDbFeedStatus {
    /// The status in the table `table` (the pipeline's alert table). Sends nothing: the client
    /// is built on first use.
    pub fn new(aws: Arc<Aws>, table: &str) -> DynamoDbFeedStatus {
        DynamoDbFeedStatus {
            aws,
            table: table.to_owned(),
            retry: crate::retry::unprocessed_items(),
        }
    }

    /// The statuses recorded of the feeds in `feeds`, by label (one BatchGetItem per 100).
    async fn previous(&self, feeds: &[&str]) -> Result<HashMap<String, FeedStatus>, StoreError> {
        let client = self.aws.dynamodb().await;
        let mut found = HashMap::new();
        for chunk in feeds.chunks(MAX_BATCH_GET) {
            let keys = chunk.iter().map(|feed| key(feed)).collect();
            for item in get_items(client, &self.table, keys, self.retry.build()).await? {
                if let Some(status) = status_of(&item) {
                    found.insert(status.feed.clone(), status);
                }
            }
        }
        Ok(found)
    }
}

/// The key of a feed's item.
fn key(feed: &str) -> Attributes {
    HashMap::from([
        (PK.to_owned(), AttributeValue::S(PARTITION.to_owned())),
        (SK.to_owned(), AttributeValue::S(feed.to_owned())),
    ])
}

fn number(n: impl ToString) -> AttributeValue {
    AttributeValue::N(n.to_string())
}

/// The item of `status`.
fn item_of(status: &FeedStatus) -> Attributes {
    let mut item = key(&status.feed);
    let mut put = |name: &str, value| {
        item.insert(name.to_owned(), value);
    };
    put("polled_at", number(status.polled_at.timestamp_micros()));
    put("outcome", AttributeValue::S(status.outcome.clone()));
    put("records", number(status.records));
    if let Some(at) = status.last_ok_at {
        put("last_ok_at", number(at.timestamp_micros()));
    }
    if let Some(quota) = status.quota {
        put("quota_remaining", number(quota.remaining));
        if let Some(limit) = quota.limit {
            put("quota_limit", number(limit));
        }
    }
    item
}

/// The status an item holds (`None`: not one this module wrote).
fn status_of(item: &Attributes) -> Option<FeedStatus> {
    let text = |name: &str| match item.get(name) {
        Some(AttributeValue::S(text)) => Some(text.clone()),
        _ => None,
    };
    let integer = |name: &str| match item.get(name) {
        Some(AttributeValue::N(digits)) => digits.parse::<i64>().ok(),
        _ => None,
    };
    let time = |name: &str| integer(name).and_then(DateTime::<Utc>::from_timestamp_micros);
    Some(FeedStatus {
        feed: text(SK)?,
        polled_at: time("polled_at")?,
        outcome: text("outcome")?,
        records: integer("records").unwrap_or(0).unsigned_abs(),
        last_ok_at: time("last_ok_at"),
        quota: integer("quota_remaining").map(|remaining| Quota {
            remaining: remaining.unsigned_abs(),
            limit: integer("quota_limit").map(i64::unsigned_abs),
        }),
    })
}

#[async_trait]
impl FeedStatusStore for DynamoDbFeedStatus {
    async fn record(&self, polls: &[FeedPolled]) -> Result<(), StoreError> {
        let mut failed: Vec<&str> = polls
            .iter()
            .filter(|poll| poll.failure.is_some())
            .map(|poll| poll.feed.as_str())
            .collect();
        failed.sort_unstable();
        failed.dedup();
        let previous = if failed.is_empty() {
            HashMap::new()
        } else {
            self.previous(&failed).await?
        };
        // One item per feed: a BatchWriteItem refuses a key twice.
        let mut items: Vec<Attributes> = Vec::with_capacity(polls.len());
        let mut seen = std::collections::HashSet::new();
        for poll in polls.iter().rev() {
            if seen.insert(poll.feed.as_str()) {
                let status = FeedStatus::after(poll, previous.get(&poll.feed));
                items.push(item_of(&status));
            }
        }
        let requests: Vec<WriteRequest> = items
            .into_iter()
            .map(|item| {
                let put = PutRequest::builder()
                    .set_item(Some(item))
                    .build()
                    .expect("the item is set");
                WriteRequest::builder().put_request(put).build()
            })
            .collect();
        let client = self.aws.dynamodb().await;
        for chunk in requests.chunks(MAX_BATCH_WRITE) {
            write_items(client, &self.table, chunk.to_vec(), self.retry.build()).await?;
        }
        Ok(())
    }

    async fn all(&self) -> Result<Vec<FeedStatus>, StoreError> {
        let items = query_partition(self.aws.dynamodb().await, &self.table, PARTITION).await?;
        let mut statuses: Vec<FeedStatus> = items.iter().filter_map(status_of).collect();
        statuses.sort_by(|a, b| a.feed.cmp(&b.feed));
        Ok(statuses)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_item_reads_back_as_the_status_it_was_written_from() {
        let status = FeedStatus {
            feed: "symbol=MSFT".to_owned(),
            polled_at: DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap(),
            outcome: "http_4xx".to_owned(),
            records: 0,
            last_ok_at: DateTime::from_timestamp_micros(1_699_999_000_000_000),
            quota: Some(Quota {
                remaining: 0,
                limit: Some(500),
            }),
        };
        let item = item_of(&status);
        assert_eq!(item[PK], AttributeValue::S("feed".to_owned()));
        assert_eq!(status_of(&item), Some(status));
        let bare = FeedStatus {
            last_ok_at: None,
            quota: None,
            outcome: "ok".to_owned(),
            ..status_of(&item).unwrap()
        };
        assert_eq!(status_of(&item_of(&bare)), Some(bare));
    }
}

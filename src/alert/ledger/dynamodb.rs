//! The DynamoDB alert ledger: one table per pipeline (`naming::alert_table`, key `pk` + `sk`,
//! both strings; with alert rules or without), holding
//! - `pk = "series", sk = <series>`: `version` (N) and `state` (S, JSON);
//! - `pk = "alert", sk = <id>`: every alert raised, `alert` (S, JSON) and `at` (N);
//! - `pk = "outbox", sk = <id>`: the alerts not yet mailed, `alert`, `queued_at` (N) and, while
//!   a sender holds it, `claimed_until` (N);
//! - `pk = "meta", sk = "digest"`: `at` (N), when the last digest was sent;
//! - `pk = "feed", sk = <feed label>`: each feed's last poll, written by the poller
//!   (`source::status::dynamodb`, not this ledger): the reason every pipeline on AWS has the table.
//!
//! Times are microseconds since the epoch. Requests: `load` is one BatchGetItem per 100 series
//! (unprocessed keys retried); `commit` one TransactWriteItems whose conditions are the
//! versions read (`attribute_not_exists(pk)` for a new series) and the alert ids being new; its
//! cancellation reasons say which series moved ([`CommitError::Conflict`]) or which alerts exist
//! ([`CommitError::Duplicate`]). A transaction holds at most 100 items (a state is one, an alert
//! two: ledger and outbox): the alerts that do not fit beside the states go first, in
//! transactions of their own, then the states with the rest. A crash between the two leaves
//! alerts without their state: the redelivered batch raises them again, gets
//! [`CommitError::Duplicate`] for them and commits the state without them, so nothing is lost or
//! doubled; only when another writer moves the series meanwhile can those early alerts be ones
//! the winner would not have raised (needs more than 45 alerts in one batch). `claim` is a Query
//! of the outbox and one conditional UpdateItem per alert taken; `settle` BatchWriteItem deletes.

mod batch;
mod transaction;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, WriteRequest};
use backon::ExponentialBuilder;
use chrono::{DateTime, Utc};

use super::{AlertLedger, Commit, CommitError, Pending};
use crate::alert::{Alert, SeriesState};
use crate::aws::Aws;
use crate::store::StoreError;
use transaction::Owner;

/// The partition of the series states.
const SERIES: &str = "series";
/// The partition of every alert raised.
const ALERTS: &str = "alert";
/// The partition of the alerts not yet mailed.
const OUTBOX: &str = "outbox";
/// The partition of the ledger's own facts (the last digest).
const META: &str = "meta";
/// The partition and sort key attribute names.
const PK: &str = "pk";
const SK: &str = "sk";

/// The most items one TransactWriteItems may hold.
const MAX_TRANSACTION: usize = 100;
/// The most keys one BatchGetItem may ask for.
const MAX_BATCH_GET: usize = 100;
/// The most requests one BatchWriteItem may carry.
const MAX_BATCH_WRITE: usize = 25;

/// The alert ledger of one pipeline on DynamoDB.
pub struct DynamoDbLedger {
    aws: Arc<Aws>,
    table: String,
    retry: ExponentialBuilder,
}

/// One DynamoDB item, by attribute name.
type Attributes = HashMap<String, AttributeValue>;

impl DynamoDbLedger {
    /// The ledger in the table `table` (`naming::alert_table` of the records table). Sends
    /// nothing: the client is built on first use.
    pub fn new(aws: Arc<Aws>, table: &str) -> DynamoDbLedger {
        DynamoDbLedger {
            aws,
            table: table.to_owned(),
            retry: crate::retry::unprocessed_items(),
        }
    }

    /// A failed `operation` as a store error; a missing table says how to create it.
    fn error<E>(&self, operation: &str, error: &SdkError<E, HttpResponse>) -> StoreError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        crate::store::dynamodb::batch::table_error(&self.table, operation, error)
    }

    /// Every page of a Query of the partition `pk`.
    async fn query_partition(&self, pk: &str) -> Result<Vec<Attributes>, StoreError> {
        crate::store::dynamodb::batch::query_partition(self.aws.dynamodb().await, &self.table, pk)
            .await
    }
}

/// The key (`pk`, `sk`).
fn key(pk: &str, sk: &str) -> Attributes {
    HashMap::from([
        (PK.to_owned(), AttributeValue::S(pk.to_owned())),
        (SK.to_owned(), AttributeValue::S(sk.to_owned())),
    ])
}

fn micros(at: DateTime<Utc>) -> AttributeValue {
    AttributeValue::N(at.timestamp_micros().to_string())
}

fn number(item: &Attributes, name: &str) -> Option<i64> {
    match item.get(name) {
        Some(AttributeValue::N(digits)) => digits.parse().ok(),
        _ => None,
    }
}

fn time(item: &Attributes, name: &str) -> Option<DateTime<Utc>> {
    number(item, name).and_then(DateTime::from_timestamp_micros)
}

fn text<'a>(item: &'a Attributes, name: &str) -> Option<&'a str> {
    match item.get(name) {
        Some(AttributeValue::S(text)) => Some(text),
        _ => None,
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("alert types always serialise")
}

/// The alert stored in `item`, or why it cannot be read.
fn alert_of(table: &str, item: &Attributes) -> Result<Alert, StoreError> {
    let sk = text(item, SK).unwrap_or_default();
    serde_json::from_str(text(item, "alert").unwrap_or_default()).map_err(|e| {
        StoreError::Aws(format!(
            "DynamoDB table {table}: the alert {sk} cannot be read: {e}"
        ))
    })
}

#[async_trait]
impl AlertLedger for DynamoDbLedger {
    async fn load(&self, series: &[String]) -> Result<HashMap<String, SeriesState>, StoreError> {
        let mut names: Vec<&String> = series.iter().collect();
        names.sort();
        names.dedup();
        let mut states = HashMap::with_capacity(names.len());
        for chunk in names.chunks(MAX_BATCH_GET) {
            let keys = chunk.iter().map(|name| key(SERIES, name)).collect();
            for item in self.get_chunk(keys).await? {
                let name = text(&item, SK).unwrap_or_default().to_owned();
                let mut state: SeriesState = serde_json::from_str(
                    text(&item, "state").unwrap_or_default(),
                )
                .map_err(|e| {
                    StoreError::Aws(format!(
                        "DynamoDB table {}: the state of series {name} cannot be read: {e}",
                        self.table
                    ))
                })?;
                state.version = number(&item, "version").unwrap_or(0).unsigned_abs();
                states.insert(name, state);
            }
        }
        Ok(states)
    }

    async fn commit(&self, commit: &Commit) -> Result<(), CommitError> {
        // One alert raised twice in one commit is one alert (DynamoDB refuses a transaction
        // writing one item twice).
        let mut seen = std::collections::HashSet::new();
        let alerts: Vec<&Alert> = commit
            .alerts
            .iter()
            .filter(|alert| seen.insert(alert.id.as_str()))
            .collect();
        if commit.states.len() > MAX_TRANSACTION {
            return Err(StoreError::Aws(format!(
                "DynamoDB table {}: {} series in one commit, more than one transaction holds ({MAX_TRANSACTION})",
                self.table,
                commit.states.len()
            ))
            .into());
        }
        let beside_states = (MAX_TRANSACTION - commit.states.len()) / 2;
        let (early, last) = alerts.split_at(alerts.len().saturating_sub(beside_states));
        for chunk in early.chunks(MAX_TRANSACTION / 2) {
            let (items, owners) = self.alert_items(chunk, commit.claimed_until);
            self.transact(items, owners).await?;
        }
        let (mut items, mut owners) = (Vec::new(), Vec::new());
        for write in &commit.states {
            let mut state = write.state.clone();
            state.version = write.expected_version + 1;
            let condition = if write.expected_version == 0 {
                ("attribute_not_exists(pk)", None)
            } else {
                (
                    "version = :v",
                    Some((":v", AttributeValue::N(write.expected_version.to_string()))),
                )
            };
            items.push(self.put(
                SERIES,
                &write.series,
                vec![
                    ("version", AttributeValue::N(state.version.to_string())),
                    ("state", AttributeValue::S(to_json(&state))),
                ],
                Some(condition),
            ));
            owners.push(Owner::Series(write.series.clone()));
        }
        let (alert_items, alert_owners) = self.alert_items(last, commit.claimed_until);
        items.extend(alert_items);
        owners.extend(alert_owners);
        self.transact(items, owners).await
    }

    async fn claim(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Pending>, StoreError> {
        let now_micros = now.timestamp_micros();
        let mut free: Vec<Attributes> = self
            .query_partition(OUTBOX)
            .await?
            .into_iter()
            .filter(|item| number(item, "claimed_until").is_none_or(|until| until < now_micros))
            .collect();
        free.sort_by(|a, b| {
            (number(a, "queued_at"), text(a, SK)).cmp(&(number(b, "queued_at"), text(b, SK)))
        });
        let client = self.aws.dynamodb().await;
        let mut claimed = Vec::new();
        for item in free {
            if claimed.len() >= limit {
                break;
            }
            let id = text(&item, SK).unwrap_or_default();
            let taken = client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(OUTBOX, id)))
                .update_expression("SET claimed_until = :until")
                .condition_expression(
                    "attribute_exists(pk) AND (attribute_not_exists(claimed_until) OR claimed_until < :now)",
                )
                .expression_attribute_values(":until", micros(now + lease))
                .expression_attribute_values(":now", micros(now))
                .send()
                .await;
            match taken {
                Ok(_) => claimed.push(Pending {
                    alert: alert_of(&self.table, &item)?,
                    queued_at: time(&item, "queued_at").unwrap_or_default(),
                }),
                // Another sender took it, or it was settled, since the Query.
                Err(error) if error.code() == Some("ConditionalCheckFailedException") => {}
                Err(error) => return Err(self.error("UpdateItem", &error)),
            }
        }
        Ok(claimed)
    }

    async fn settle(&self, ids: &[String]) -> Result<(), StoreError> {
        let mut ids: Vec<&String> = ids.iter().collect();
        ids.sort();
        ids.dedup();
        let requests: Vec<WriteRequest> = ids
            .iter()
            .map(|id| {
                let delete = DeleteRequest::builder()
                    .set_key(Some(key(OUTBOX, id)))
                    .build()
                    .expect("the key is set");
                WriteRequest::builder().delete_request(delete).build()
            })
            .collect();
        for chunk in requests.chunks(MAX_BATCH_WRITE) {
            self.write_chunk(chunk.to_vec()).await?;
        }
        Ok(())
    }

    async fn last_digest(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let output = self
            .aws
            .dynamodb()
            .await
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(META, "digest")))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.error("GetItem", &e))?;
        Ok(output.item.and_then(|item| time(&item, "at")))
    }

    async fn digest_sent(&self, at: DateTime<Utc>) -> Result<(), StoreError> {
        let mut item = key(META, "digest");
        item.insert("at".to_owned(), micros(at));
        self.aws
            .dynamodb()
            .await
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| self.error("PutItem", &e))?;
        Ok(())
    }

    async fn raised_since(&self, since: DateTime<Utc>) -> Result<Vec<Alert>, StoreError> {
        let since = since.timestamp_micros();
        let mut raised: Vec<(i64, Alert)> = Vec::new();
        for item in self.query_partition(ALERTS).await? {
            let at = number(&item, "at").unwrap_or(i64::MIN);
            if at >= since {
                raised.push((at, alert_of(&self.table, &item)?));
            }
        }
        raised.sort_by(|a, b| (a.0, &a.1.id).cmp(&(b.0, &b.1.id)));
        Ok(raised.into_iter().map(|(_, alert)| alert).collect())
    }
}

//! The DynamoDB store: items written with BatchWriteItem (at most 25 per request, unprocessed
//! items retried with backoff), read back with Scan for `stockrun show`; the history reads of
//! the alert rules are in `read`. Numbers are `N` with
//! the digits the record had, strings (timestamps too) `S`, booleans `BOOL`. `provision`
//! creates the table for `stockrun init`.

pub(crate) mod batch;
pub(crate) mod provision;
mod read;

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::scan::ScanError;
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, Select, WriteRequest};
use backon::{BackoffBuilder, ExponentialBuilder};
use indexmap::IndexMap;
use serde_json::{Number, Value};

use super::{Item, Store, StoreError};
use crate::aws::Aws;
use crate::config::Pipeline;

/// The most items one BatchWriteItem may carry (AWS rejects more; moto does not, so we enforce it).
pub(crate) const MAX_BATCH_WRITE: usize = 25;

/// One pipeline's DynamoDB table.
pub struct DynamoDbStore {
    aws: Arc<Aws>,
    table: String,
    partition: String,
    sort: Option<String>,
    inserted_at: String,
    /// The pipeline's field names, in file order (the display order of `recent`).
    fields: Vec<String>,
    retry: ExponentialBuilder,
}

impl DynamoDbStore {
    /// The store for `pipeline`'s table. Sends nothing: the client is built on first use.
    pub fn new(aws: Arc<Aws>, pipeline: &Pipeline) -> DynamoDbStore {
        let store = &pipeline.store;
        DynamoDbStore {
            aws,
            table: store.table.value.clone(),
            partition: store.key.partition.name.value.clone(),
            sort: store.key.sort.as_ref().map(|sort| sort.name.value.clone()),
            inserted_at: store.inserted_at.value.clone(),
            fields: pipeline.process.fields.value.keys().cloned().collect(),
            retry: crate::retry::unprocessed_items(),
        }
    }

    /// The write request for `item`. The key attributes come from the item's key, so they are
    /// always strings whatever the attributes say.
    fn put_request(&self, item: &Item) -> WriteRequest {
        let mut attributes: HashMap<String, AttributeValue> = item
            .attributes
            .iter()
            .filter_map(|(name, value)| Some((name.clone(), to_attribute(value)?)))
            .collect();
        attributes.insert(
            self.partition.clone(),
            AttributeValue::S(item.partition.clone()),
        );
        if let (Some(name), Some(value)) = (&self.sort, &item.sort) {
            attributes.insert(name.clone(), AttributeValue::S(value.clone()));
        }
        let put = PutRequest::builder()
            .set_item(Some(attributes))
            .build()
            .expect("the item is set");
        WriteRequest::builder().put_request(put).build()
    }

    /// Writes one chunk (≤ 25 requests), retrying what DynamoDB leaves unprocessed.
    async fn write_chunk(&self, pending: Vec<WriteRequest>) -> Result<(), StoreError> {
        let client = self.aws.dynamodb().await;
        batch::write_items(client, &self.table, pending, self.retry.build()).await
    }

    /// The item for one scanned DynamoDB item, attributes in display order: the key, the
    /// pipeline's fields, the insert time, then any others by name.
    fn item_from(&self, mut attributes: HashMap<String, AttributeValue>) -> Item {
        let key_text = |value: Option<&AttributeValue>| match value.map(from_attribute) {
            Some(Value::String(text)) => text,
            Some(other) => other.to_string(),
            None => String::new(),
        };
        let partition = key_text(attributes.get(&self.partition));
        let sort = self
            .sort
            .as_ref()
            .map(|name| key_text(attributes.get(name)));
        let mut ordered = IndexMap::with_capacity(attributes.len());
        let known = std::iter::once(&self.partition)
            .chain(&self.sort)
            .chain(&self.fields)
            .chain(std::iter::once(&self.inserted_at));
        for name in known {
            if let Some(value) = attributes.remove(name) {
                ordered.insert(name.clone(), from_attribute(&value));
            }
        }
        let mut others: Vec<_> = attributes.into_iter().collect();
        others.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, value) in others {
            ordered.insert(name, from_attribute(&value));
        }
        Item {
            partition,
            sort,
            attributes: ordered,
        }
    }

    /// A failed Scan as a store error.
    fn scan_error(&self, error: &SdkError<ScanError, HttpResponse>) -> StoreError {
        batch::table_error(&self.table, "Scan", error)
    }
}

#[async_trait]
impl Store for DynamoDbStore {
    async fn put_batch(&self, items: &[Item]) -> Result<(), StoreError> {
        // DynamoDB rejects a request that writes one key twice: the last item of a key wins, in
        // the position of the first.
        let mut by_key: IndexMap<(&str, Option<&str>), &Item> = IndexMap::new();
        for item in items {
            by_key.insert((item.partition.as_str(), item.sort.as_deref()), item);
        }
        let requests: Vec<WriteRequest> =
            by_key.values().map(|item| self.put_request(item)).collect();
        for chunk in requests.chunks(MAX_BATCH_WRITE) {
            self.write_chunk(chunk.to_vec()).await?;
        }
        Ok(())
    }

    async fn recent(&self, limit: usize) -> Result<Vec<Item>, StoreError> {
        let client = self.aws.dynamodb().await;
        let mut pages = client
            .scan()
            .table_name(&self.table)
            .into_paginator()
            .send();
        let mut items = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.scan_error(&e))?;
            items.extend(
                page.items
                    .unwrap_or_default()
                    .into_iter()
                    .map(|attributes| self.item_from(attributes)),
            );
        }
        let inserted_at = |item: &Item| match item.attributes.get(&self.inserted_at) {
            Some(Value::String(at)) => at.clone(),
            _ => String::new(),
        };
        // RFC 3339 UTC with a fixed number of fraction digits sorts as text.
        items.sort_by(|a, b| {
            inserted_at(b)
                .cmp(&inserted_at(a))
                .then_with(|| a.partition.cmp(&b.partition))
                .then_with(|| a.sort.cmp(&b.sort))
        });
        items.truncate(limit);
        Ok(items)
    }

    async fn count(&self) -> Result<u64, StoreError> {
        let client = self.aws.dynamodb().await;
        let mut pages = client
            .scan()
            .table_name(&self.table)
            .select(Select::Count)
            .into_paginator()
            .send();
        let mut count = 0u64;
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.scan_error(&e))?;
            count += u64::try_from(page.count).unwrap_or(0);
        }
        Ok(count)
    }

    async fn previous(&self, partition: &str, before: &str) -> Result<Option<Item>, StoreError> {
        self.query_previous(partition, before).await
    }

    async fn range(
        &self,
        partition: &str,
        from: &str,
        before: &str,
    ) -> Result<Vec<Item>, StoreError> {
        self.query_range(partition, from, before).await
    }

    async fn existing(&self, keys: &[(String, Option<String>)]) -> Result<Vec<Item>, StoreError> {
        self.batch_get(keys).await
    }

    async fn history(
        &self,
        since: Option<&str>,
        partition: Option<&str>,
    ) -> Result<Vec<Item>, StoreError> {
        self.read_history(since, partition).await
    }

    async fn series(&self, limit: usize) -> Result<Vec<String>, StoreError> {
        self.scan_series(limit).await
    }

    async fn newest(&self, partition: &str, limit: usize) -> Result<Vec<Item>, StoreError> {
        self.query_newest(partition, limit).await
    }
}

/// The DynamoDB value of one attribute; `None` for null (a missing value is never stored).
pub(crate) fn to_attribute(value: &Value) -> Option<AttributeValue> {
    match value {
        Value::Null => None,
        Value::String(text) => Some(AttributeValue::S(text.clone())),
        // With `arbitrary_precision` this is the number exactly as it was read.
        Value::Number(number) => Some(AttributeValue::N(number.to_string())),
        Value::Bool(flag) => Some(AttributeValue::Bool(*flag)),
        // Fields are scalars; should a composite value ever get here, keep it readable.
        Value::Array(_) | Value::Object(_) => Some(AttributeValue::S(value.to_string())),
    }
}

/// The JSON value of one stored attribute: `S` → string, `N` → number with its digits,
/// `BOOL` → bool; lists, maps and sets (not written by stockrun) as JSON arrays and objects.
pub(crate) fn from_attribute(value: &AttributeValue) -> Value {
    match value {
        AttributeValue::S(text) => Value::String(text.clone()),
        AttributeValue::N(digits) => number(digits),
        AttributeValue::Bool(flag) => Value::Bool(*flag),
        AttributeValue::Null(_) => Value::Null,
        AttributeValue::Ss(texts) => texts.iter().cloned().map(Value::String).collect(),
        AttributeValue::Ns(numbers) => numbers.iter().map(|digits| number(digits)).collect(),
        AttributeValue::L(values) => values.iter().map(from_attribute).collect(),
        AttributeValue::M(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(name, value)| (name.clone(), from_attribute(value)))
                    .collect(),
            )
        }
        AttributeValue::B(blob) => Value::String(format!("<{} bytes>", blob.as_ref().len())),
        AttributeValue::Bs(blobs) => blobs
            .iter()
            .map(|blob| Value::String(format!("<{} bytes>", blob.as_ref().len())))
            .collect(),
        _ => Value::String("<unknown attribute type>".to_owned()),
    }
}

/// An `N` value as a JSON number with the same digits (a string should it not parse).
fn number(digits: &str) -> Value {
    serde_json::from_str::<Number>(digits)
        .map(Value::Number)
        .unwrap_or_else(|_| Value::String(digits.to_owned()))
}

#[cfg(test)]
mod tests;

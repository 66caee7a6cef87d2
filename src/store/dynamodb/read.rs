//! The DynamoDB store's history reads: a series' previous record and a window of it (Query on
//! the key, newest first with `Limit 1` for the previous one), stored items by key
//! (BatchGetItem, at most 100 keys per request, unprocessed keys retried with backoff) and the
//! whole history for `backtest` (Query of one partition or Scan, every page). Reads of a
//! series are strongly consistent: the batch that asks has just written its records. A table without a
//! sort key has no history: `previous` and `range` find nothing there.

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::query::QueryError;
use aws_sdk_dynamodb::types::AttributeValue;
use backon::BackoffBuilder;

use super::DynamoDbStore;
use crate::store::{Item, StoreError};

/// The most keys one BatchGetItem may ask for (AWS rejects more).
pub(crate) const MAX_BATCH_GET: usize = 100;

/// One DynamoDB item, by attribute name.
use super::batch::Attributes;

impl DynamoDbStore {
    /// The item of `partition` with the greatest sort key below `before`.
    pub(super) async fn query_previous(
        &self,
        partition: &str,
        before: &str,
    ) -> Result<Option<Item>, StoreError> {
        let Some(sort) = &self.sort else {
            return Ok(None);
        };
        let below = Some((sort.as_str(), before));
        Ok(self
            .newest_first(partition, below, 1)
            .await?
            .into_iter()
            .next())
    }

    /// The newest `limit` items of `partition` (those with a sort key below `below`'s value
    /// when given, `#s` naming its attribute): one Query, newest first, strongly consistent.
    async fn newest_first(
        &self,
        partition: &str,
        below: Option<(&str, &str)>,
        limit: usize,
    ) -> Result<Vec<Item>, StoreError> {
        let mut request = self
            .aws
            .dynamodb()
            .await
            .query()
            .table_name(&self.table)
            .expression_attribute_names("#p", &self.partition)
            .expression_attribute_values(":p", AttributeValue::S(partition.to_owned()))
            .scan_index_forward(false)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .consistent_read(true);
        request = match below {
            Some((sort, before)) => request
                .key_condition_expression("#p = :p AND #s < :s")
                .expression_attribute_names("#s", sort)
                .expression_attribute_values(":s", AttributeValue::S(before.to_owned())),
            None => request.key_condition_expression("#p = :p"),
        };
        let output = request.send().await.map_err(|e| self.query_error(&e))?;
        Ok(output
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|attributes| self.item_from(attributes))
            .collect())
    }

    /// The items of `partition` with a sort key in `from..before`, by sort key.
    pub(super) async fn query_range(
        &self,
        partition: &str,
        from: &str,
        before: &str,
    ) -> Result<Vec<Item>, StoreError> {
        let Some(sort) = &self.sort else {
            return Ok(Vec::new());
        };
        if from >= before {
            return Ok(Vec::new());
        }
        // A key condition has one comparison of the sort key and BETWEEN includes both ends:
        // the item at `before` itself (at most one) is dropped here.
        let mut items = self
            .query_pages(
                "#p = :p AND #s BETWEEN :from AND :before",
                sort,
                vec![(":p", partition), (":from", from), (":before", before)],
            )
            .await?;
        items.retain(|item| item.sort.as_deref() < Some(before));
        Ok(items)
    }

    /// The stored items among `keys`, BatchGetItem by 100 keys.
    pub(super) async fn batch_get(
        &self,
        keys: &[(String, Option<String>)],
    ) -> Result<Vec<Item>, StoreError> {
        // BatchGetItem refuses a request naming one key twice.
        let mut unique: Vec<Attributes> = Vec::with_capacity(keys.len());
        let mut seen = std::collections::HashSet::new();
        for (partition, sort) in keys {
            let sort = self.sort.as_ref().zip(sort.as_ref());
            if !seen.insert((partition, sort.map(|(_, value)| value))) {
                continue;
            }
            let mut key =
                HashMap::from([(self.partition.clone(), AttributeValue::S(partition.clone()))]);
            if let Some((name, value)) = sort {
                key.insert(name.clone(), AttributeValue::S(value.clone()));
            }
            unique.push(key);
        }
        let mut found = Vec::new();
        for chunk in unique.chunks(MAX_BATCH_GET) {
            for attributes in self.get_chunk(chunk.to_vec()).await? {
                found.push(self.item_from(attributes));
            }
        }
        Ok(found)
    }

    /// One BatchGetItem of at most 100 keys, retrying what DynamoDB leaves unprocessed.
    async fn get_chunk(&self, pending: Vec<Attributes>) -> Result<Vec<Attributes>, StoreError> {
        let client = self.aws.dynamodb().await;
        super::batch::get_items(client, &self.table, pending, self.retry.build()).await
    }

    /// Every item with a sort key from `since`, of `partition` or all, by partition and sort key.
    pub(super) async fn read_history(
        &self,
        since: Option<&str>,
        partition: Option<&str>,
    ) -> Result<Vec<Item>, StoreError> {
        let since = since.filter(|_| self.sort.is_some());
        let mut items = match (partition, &self.sort, since) {
            (Some(partition), Some(sort), Some(since)) => {
                self.query_pages(
                    "#p = :p AND #s >= :since",
                    sort,
                    vec![(":p", partition), (":since", since)],
                )
                .await?
            }
            (Some(partition), _, _) => {
                self.query_pages("#p = :p", &self.partition, vec![(":p", partition)])
                    .await?
            }
            (None, _, since) => self.scan_since(since).await?,
        };
        items.sort_by(|a, b| (&a.partition, &a.sort).cmp(&(&b.partition, &b.sort)));
        Ok(items)
    }

    /// Every page of a Query with `condition` over `#p` (the partition key) and `#s` (`sort`).
    async fn query_pages(
        &self,
        condition: &str,
        sort: &str,
        values: Vec<(&str, &str)>,
    ) -> Result<Vec<Item>, StoreError> {
        let mut request = self
            .aws
            .dynamodb()
            .await
            .query()
            .table_name(&self.table)
            .key_condition_expression(condition)
            .consistent_read(true)
            .expression_attribute_names("#p", &self.partition);
        if condition.contains("#s") {
            request = request.expression_attribute_names("#s", sort);
        }
        for (name, value) in values {
            request =
                request.expression_attribute_values(name, AttributeValue::S(value.to_owned()));
        }
        let mut pages = request.into_paginator().send();
        let mut items = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.query_error(&e))?;
            items.extend(
                page.items
                    .unwrap_or_default()
                    .into_iter()
                    .map(|attributes| self.item_from(attributes)),
            );
        }
        Ok(items)
    }

    /// Every page of a Scan, keeping the items with a sort key from `since` when given.
    async fn scan_since(&self, since: Option<&str>) -> Result<Vec<Item>, StoreError> {
        let mut request = self.aws.dynamodb().await.scan().table_name(&self.table);
        if let (Some(sort), Some(since)) = (&self.sort, since) {
            request = request
                .filter_expression("#s >= :since")
                .expression_attribute_names("#s", sort)
                .expression_attribute_values(":since", AttributeValue::S(since.to_owned()));
        }
        let mut pages = request.into_paginator().send();
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
        Ok(items)
    }

    /// Up to `limit` distinct partition keys from the keys-only pages of a Scan, at most
    /// [`SERIES_SCAN_PAGES`](crate::store::SERIES_SCAN_PAGES) of them, in key order.
    pub(super) async fn scan_series(&self, limit: usize) -> Result<Vec<String>, StoreError> {
        let mut pages = self
            .aws
            .dynamodb()
            .await
            .scan()
            .table_name(&self.table)
            .projection_expression("#p")
            .expression_attribute_names("#p", &self.partition)
            .into_paginator()
            .page_size(1000)
            .send();
        let mut series = std::collections::BTreeSet::new();
        let mut read = 0;
        while read < crate::store::SERIES_SCAN_PAGES
            && let Some(page) = pages.next().await
        {
            let page = page.map_err(|e| self.scan_error(&e))?;
            read += 1;
            for attributes in page.items.unwrap_or_default() {
                if let Some(AttributeValue::S(key)) = attributes.get(&self.partition) {
                    series.insert(key.clone());
                }
            }
        }
        Ok(series.into_iter().take(limit).collect())
    }

    /// The newest `limit` items of `partition`: a Query newest first.
    pub(super) async fn query_newest(
        &self,
        partition: &str,
        limit: usize,
    ) -> Result<Vec<Item>, StoreError> {
        self.newest_first(partition, None, limit).await
    }

    /// A failed Query as a store error.
    fn query_error(
        &self,
        error: &aws_sdk_dynamodb::error::SdkError<
            QueryError,
            aws_sdk_dynamodb::config::http::HttpResponse,
        >,
    ) -> StoreError {
        super::batch::table_error(&self.table, "Query", error)
    }
}

//! DynamoDB's batch requests on one table, retrying what the table leaves unprocessed, and the
//! one way a failed table request is described: shared by the records table (`store`) and the
//! alert table (`alert::ledger::dynamodb`).

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, WriteRequest};

use crate::aws::sdk_error_message;
use crate::store::StoreError;

/// One DynamoDB item or key, by attribute name.
pub(crate) type Attributes = HashMap<String, AttributeValue>;

/// What a failed request on `table` says: a missing table names the command that creates it.
pub(crate) fn table_error<E>(
    table: &str,
    operation: &str,
    error: &SdkError<E, HttpResponse>,
) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    if error.code() == Some("ResourceNotFoundException") {
        StoreError::Aws(format!(
            "DynamoDB table {table} does not exist: create it with `stockrun init FILE --backend aws`"
        ))
    } else {
        StoreError::Aws(format!(
            "DynamoDB table {table}: {operation} failed: {}",
            sdk_error_message(error)
        ))
    }
}

/// Every item of the partition `pk` of a table keyed `pk` + `sk` (the alert table), read
/// consistently, every page of the Query.
pub(crate) async fn query_partition(
    client: &Client,
    table: &str,
    pk: &str,
) -> Result<Vec<Attributes>, StoreError> {
    let mut pages = client
        .query()
        .table_name(table)
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", AttributeValue::S(pk.to_owned()))
        .consistent_read(true)
        .into_paginator()
        .send();
    let mut items = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| table_error(table, "Query", &e))?;
        items.extend(page.items.unwrap_or_default());
    }
    Ok(items)
}

/// Reads the items of `keys` (at most 100) with one strongly consistent BatchGetItem, then
/// again for what the table left unprocessed after each pause of `delays`; the keys still
/// unprocessed when the pauses run out are an error (the table's read capacity is exceeded).
pub(crate) async fn get_items(
    client: &Client,
    table: &str,
    mut pending: Vec<Attributes>,
    mut delays: impl Iterator<Item = Duration>,
) -> Result<Vec<Attributes>, StoreError> {
    let total = pending.len();
    let mut found = Vec::new();
    for attempts in 1.. {
        let request = KeysAndAttributes::builder()
            .set_keys(Some(pending))
            .consistent_read(true)
            .build()
            .expect("the keys are set");
        let output = client
            .batch_get_item()
            .request_items(table, request)
            .send()
            .await
            .map_err(|e| table_error(table, "BatchGetItem", &e))?;
        if let Some(mut responses) = output.responses {
            found.extend(responses.remove(table).unwrap_or_default());
        }
        pending = output
            .unprocessed_keys
            .and_then(|mut unprocessed| unprocessed.remove(table))
            .map(|keys| keys.keys)
            .unwrap_or_default();
        if pending.is_empty() {
            return Ok(found);
        }
        let Some(delay) = delays.next() else {
            return Err(unprocessed(
                table,
                "BatchGetItem",
                pending.len(),
                total,
                attempts,
            ));
        };
        tokio::time::sleep(delay).await;
    }
    unreachable!("the loop returns")
}

/// Sends `pending` (at most 25 puts or deletes) with one BatchWriteItem, then again what the
/// table left unprocessed after each pause of `delays`; what is still unprocessed when the
/// pauses run out is an error (the table's write capacity is exceeded).
pub(crate) async fn write_items(
    client: &Client,
    table: &str,
    mut pending: Vec<WriteRequest>,
    mut delays: impl Iterator<Item = Duration>,
) -> Result<(), StoreError> {
    let total = pending.len();
    for attempts in 1.. {
        let output = client
            .batch_write_item()
            .request_items(table, pending)
            .send()
            .await
            .map_err(|e| table_error(table, "BatchWriteItem", &e))?;
        pending = output
            .unprocessed_items
            .and_then(|mut unprocessed| unprocessed.remove(table))
            .unwrap_or_default();
        if pending.is_empty() {
            return Ok(());
        }
        let Some(delay) = delays.next() else {
            return Err(unprocessed(
                table,
                "BatchWriteItem",
                pending.len(),
                total,
                attempts,
            ));
        };
        tracing::debug!(
            table,
            unprocessed = pending.len(),
            delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            "BatchWriteItem left items unprocessed: retrying them"
        );
        tokio::time::sleep(delay).await;
    }
    unreachable!("the loop returns")
}

/// What is left unprocessed once the retries ran out: `BatchGetItem` keys (read capacity) or
/// `BatchWriteItem` items (write capacity).
fn unprocessed(
    table: &str,
    operation: &str,
    left: usize,
    total: usize,
    attempts: u32,
) -> StoreError {
    let (what, capacity) = if operation == "BatchGetItem" {
        ("keys", "read")
    } else {
        ("items", "write")
    };
    StoreError::Aws(format!(
        "DynamoDB table {table}: {left} of {total} {what} still unprocessed after {attempts} \
         {operation} attempts (the table's {capacity} capacity is exceeded)"
    ))
}

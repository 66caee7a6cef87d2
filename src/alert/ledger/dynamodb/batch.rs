//! The DynamoDB ledger's batch requests: BatchGetItem (series states) and BatchWriteItem (outbox
//! deletes), each retrying what DynamoDB leaves unprocessed with `retry::unprocessed_items`.

use aws_sdk_dynamodb::types::{KeysAndAttributes, WriteRequest};
use backon::BackoffBuilder;

use super::{Attributes, DynamoDbLedger};
use crate::store::StoreError;

impl DynamoDbLedger {
    /// One BatchGetItem of at most 100 keys, retrying what DynamoDB leaves unprocessed.
    pub(super) async fn get_chunk(
        &self,
        mut pending: Vec<Attributes>,
    ) -> Result<Vec<Attributes>, StoreError> {
        let client = self.aws.dynamodb().await;
        let mut delays = self.retry.build();
        let mut found = Vec::new();
        loop {
            let request = KeysAndAttributes::builder()
                .set_keys(Some(pending))
                .consistent_read(true)
                .build()
                .expect("the keys are set");
            let output = client
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .map_err(|e| self.error("BatchGetItem", &e))?;
            if let Some(mut responses) = output.responses {
                found.extend(responses.remove(&self.table).unwrap_or_default());
            }
            pending = output
                .unprocessed_keys
                .and_then(|mut unprocessed| unprocessed.remove(&self.table))
                .map(|keys| keys.keys)
                .unwrap_or_default();
            if pending.is_empty() {
                return Ok(found);
            }
            let Some(delay) = delays.next() else {
                return Err(self.throttled("BatchGetItem", pending.len()));
            };
            tokio::time::sleep(delay).await;
        }
    }

    /// One BatchWriteItem of at most 25 requests, retrying what DynamoDB leaves unprocessed.
    pub(super) async fn write_chunk(
        &self,
        mut pending: Vec<WriteRequest>,
    ) -> Result<(), StoreError> {
        let client = self.aws.dynamodb().await;
        let mut delays = self.retry.build();
        loop {
            let output = client
                .batch_write_item()
                .request_items(&self.table, pending)
                .send()
                .await
                .map_err(|e| self.error("BatchWriteItem", &e))?;
            pending = output
                .unprocessed_items
                .and_then(|mut unprocessed| unprocessed.remove(&self.table))
                .unwrap_or_default();
            if pending.is_empty() {
                return Ok(());
            }
            let Some(delay) = delays.next() else {
                return Err(self.throttled("BatchWriteItem", pending.len()));
            };
            tokio::time::sleep(delay).await;
        }
    }

    fn throttled(&self, operation: &str, left: usize) -> StoreError {
        StoreError::Aws(format!(
            "DynamoDB table {}: {left} keys still unprocessed after every {operation} retry (the \
             table's capacity is exceeded)",
            self.table
        ))
    }
}

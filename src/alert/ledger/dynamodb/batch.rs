//! The DynamoDB ledger's batch requests: BatchGetItem (series states) and BatchWriteItem (outbox
//! deletes), each retrying what DynamoDB leaves unprocessed with `retry::unprocessed_items`.

use aws_sdk_dynamodb::types::WriteRequest;
use backon::BackoffBuilder;

use super::{Attributes, DynamoDbLedger};
use crate::store::StoreError;
use crate::store::dynamodb::batch;

impl DynamoDbLedger {
    /// One BatchGetItem of at most 100 keys, retrying what DynamoDB leaves unprocessed.
    pub(super) async fn get_chunk(
        &self,
        pending: Vec<Attributes>,
    ) -> Result<Vec<Attributes>, StoreError> {
        let client = self.aws.dynamodb().await;
        batch::get_items(client, &self.table, pending, self.retry.build()).await
    }

    /// One BatchWriteItem of at most 25 requests, retrying what DynamoDB leaves unprocessed.
    pub(super) async fn write_chunk(&self, pending: Vec<WriteRequest>) -> Result<(), StoreError> {
        let client = self.aws.dynamodb().await;
        batch::write_items(client, &self.table, pending, self.retry.build()).await
    }
}

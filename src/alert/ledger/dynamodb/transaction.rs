//! The DynamoDB ledger's transactions: the items of a commit (conditional Puts of series
//! states and alerts, unconditional Puts into the outbox) and what a cancelled
//! TransactWriteItems says, item by item, as [`CommitError`].

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use chrono::{DateTime, Utc};

use super::{ALERTS, DynamoDbLedger, OUTBOX, key, micros, to_json};
use crate::alert::Alert;
use crate::alert::ledger::CommitError;

/// What one item of a transaction stands for.
pub(super) enum Owner {
    /// A series' state.
    Series(String),
    /// An alert's ledger or outbox item.
    Alert { id: String, series: String },
}

impl DynamoDbLedger {
    /// Runs one TransactWriteItems; `owners[i]` names what item `i` stands for (a series or an
    /// alert id), to say which ones a cancellation was about.
    pub(super) async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
        owners: Vec<Owner>,
    ) -> Result<(), CommitError> {
        if items.is_empty() {
            return Ok(());
        }
        let result = self
            .aws
            .dynamodb()
            .await
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        let Err(error) = result else {
            return Ok(());
        };
        let reasons = match error.as_service_error() {
            Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => {
                cancelled.cancellation_reasons()
            }
            _ => return Err(self.error("TransactWriteItems", &error).into()),
        };
        let (mut conflicts, mut duplicates) = (Vec::new(), Vec::new());
        for (reason, owner) in reasons.iter().zip(&owners) {
            match (reason.code(), owner) {
                (None | Some("None"), _) => {}
                (Some("ConditionalCheckFailed"), Owner::Series(series)) => {
                    conflicts.push(series.clone());
                }
                (Some("ConditionalCheckFailed"), Owner::Alert { id, .. }) => {
                    duplicates.push(id.clone());
                }
                // Another transaction was writing the item at that moment: its series may have
                // moved, so read again and evaluate again.
                (
                    Some("TransactionConflict"),
                    Owner::Series(series) | Owner::Alert { series, .. },
                ) => {
                    conflicts.push(series.clone());
                }
                (Some(_), _) => return Err(self.error("TransactWriteItems", &error).into()),
            }
        }
        conflicts.dedup();
        if !conflicts.is_empty() {
            Err(CommitError::Conflict(conflicts))
        } else if !duplicates.is_empty() {
            Err(CommitError::Duplicate(duplicates))
        } else {
            Err(self.error("TransactWriteItems", &error).into())
        }
    }

    /// A Put of `attributes` under (`pk`, `sk`) into the table, on `condition` when given.
    pub(super) fn put(
        &self,
        pk: &str,
        sk: &str,
        attributes: Vec<(&str, AttributeValue)>,
        condition: Option<(&str, Option<(&str, AttributeValue)>)>,
    ) -> TransactWriteItem {
        let mut item = key(pk, sk);
        for (name, value) in attributes {
            item.insert(name.to_owned(), value);
        }
        let mut put = Put::builder().table_name(&self.table).set_item(Some(item));
        if let Some((expression, value)) = condition {
            put = put.condition_expression(expression);
            if let Some((name, value)) = value {
                put = put.expression_attribute_values(name, value);
            }
        }
        TransactWriteItem::builder()
            .put(put.build().expect("the table and item are set"))
            .build()
    }

    /// The transaction items of `alerts`: each into the ledger (if its id is new) and the
    /// outbox, claimed until `claimed_until` when set.
    pub(super) fn alert_items(
        &self,
        alerts: &[&Alert],
        claimed_until: Option<DateTime<Utc>>,
    ) -> (Vec<TransactWriteItem>, Vec<Owner>) {
        let queued_at = micros(Utc::now());
        let (mut items, mut owners) = (Vec::new(), Vec::new());
        for alert in alerts {
            let json = AttributeValue::S(to_json(alert));
            items.push(self.put(
                ALERTS,
                &alert.id,
                vec![("alert", json.clone()), ("at", micros(alert.at))],
                Some(("attribute_not_exists(pk)", None)),
            ));
            let mut outbox = vec![("alert", json), ("queued_at", queued_at.clone())];
            if let Some(until) = claimed_until {
                outbox.push(("claimed_until", micros(until)));
            }
            items.push(self.put(OUTBOX, &alert.id, outbox, None));
            for _ in 0..2 {
                owners.push(Owner::Alert {
                    id: alert.id.clone(),
                    series: alert.series.clone(),
                });
            }
        }
        (items, owners)
    }
}

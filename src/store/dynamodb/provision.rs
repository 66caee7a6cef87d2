//! Creating a pipeline's table on DynamoDB for development (`stockrun init`): the table of the
//! description with its key schema (string attributes), billed per request. An existing table is
//! left as it is; one with another key is reported, since every write to it would fail.
//! Production tables come from the deploy template instead.

use std::time::Duration;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType, TableStatus,
};

use crate::aws::{Aws, sdk_error_message};
use crate::naming::KEY_ATTRIBUTE_TYPE;
use crate::resources::{Provisioned, TableResource};

/// How long [`wait_until_active`] waits for a table that DynamoDB is still creating.
const TABLE_DEADLINE: Duration = Duration::from_secs(300);

/// How often [`wait_until_active`] looks at a table being created.
const TABLE_POLL: Duration = Duration::from_secs(2);

/// Why the table could not be found or made.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    /// A DynamoDB call failed.
    #[error("table `{table}`: {operation}: {message}")]
    Aws {
        /// The table's name.
        table: String,
        /// The call, such as `DescribeTable`.
        operation: &'static str,
        /// What AWS said.
        message: String,
    },
    /// DescribeTable answered without a table.
    #[error("table `{table}`: DescribeTable returned no table")]
    NoDescription {
        /// The table's name.
        table: String,
    },
    /// The table is neither being created nor active (being deleted, say).
    #[error("table `{table}` is {status}, not ACTIVE")]
    NotActive {
        /// The table's name.
        table: String,
        /// Its status.
        status: String,
    },
    /// The table was still being created at the deadline.
    #[error(
        "table `{table}` is still being created after {}s; run init again later",
        TABLE_DEADLINE.as_secs()
    )]
    StillCreating {
        /// The table's name.
        table: String,
    },
}

/// What [`table`] found or did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Table {
    /// The table has the description's key (found or created); `creating` while DynamoDB is
    /// still building it (see [`wait_until_active`]).
    Ready {
        /// Whether it was there.
        provisioned: Provisioned,
        /// Whether its status is `CREATING`.
        creating: bool,
    },
    /// The table exists with another key, described like [`TableResource::describe_key`].
    OtherKey {
        /// The table's key.
        existing: String,
    },
}

/// Finds the table `table.name`, creating it when missing. Does not wait for a new table.
pub async fn table(aws: &Aws, table: &TableResource) -> Result<Table, ProvisionError> {
    let client = aws.dynamodb().await;
    let name = table.name.as_str();
    let described = client.describe_table().table_name(name).send().await;
    let (provisioned, status) = match described {
        Ok(output) => {
            let description = output
                .table()
                .ok_or_else(|| ProvisionError::NoDescription {
                    table: name.to_owned(),
                })?;
            let existing: Vec<(&str, &str)> = description
                .key_schema()
                .iter()
                .map(|k| (k.attribute_name(), k.key_type().as_str()))
                .collect();
            let wanted: Vec<(&str, &str)> = table
                .key
                .iter()
                .map(|k| (k.name.as_str(), k.role.key_type()))
                .collect();
            if existing != wanted {
                let existing = existing
                    .iter()
                    .map(|(name, key_type)| format!("{name} {key_type}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                return Ok(Table::OtherKey { existing });
            }
            (Provisioned::Existed, description.table_status().cloned())
        }
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            (Provisioned::Created, create_table(aws, table).await?)
        }
        Err(error) => {
            return Err(ProvisionError::Aws {
                table: name.to_owned(),
                operation: "DescribeTable",
                message: sdk_error_message(&error),
            });
        }
    };
    Ok(Table::Ready {
        provisioned,
        creating: status == Some(TableStatus::Creating),
    })
}

/// Creates the table; its status (`CREATING` on AWS, `ACTIVE` at once on moto). A table created
/// by someone else meanwhile counts as created.
async fn create_table(
    aws: &Aws,
    table: &TableResource,
) -> Result<Option<TableStatus>, ProvisionError> {
    let mut request = aws
        .dynamodb()
        .await
        .create_table()
        .table_name(&table.name)
        .billing_mode(BillingMode::from(table.billing_mode));
    for attribute in &table.key {
        let key_type = KeyType::from(attribute.role.key_type());
        request = request
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(&attribute.name)
                    .attribute_type(ScalarAttributeType::from(KEY_ATTRIBUTE_TYPE))
                    .build()
                    .expect("the name and type are set"),
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name(&attribute.name)
                    .key_type(key_type)
                    .build()
                    .expect("the name and key type are set"),
            );
    }
    match request.send().await {
        Ok(output) => Ok(output
            .table_description()
            .and_then(|d| d.table_status())
            .cloned()),
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|e| e.is_resource_in_use_exception()) =>
        {
            Ok(Some(TableStatus::Creating))
        }
        Err(error) => Err(ProvisionError::Aws {
            table: table.name.clone(),
            operation: "CreateTable",
            message: sdk_error_message(&error),
        }),
    }
}

/// Waits until the table `table` is `ACTIVE`, looking every 2 s for at most 5 minutes.
pub async fn wait_until_active(aws: &Aws, table: &str) -> Result<(), ProvisionError> {
    let client = aws.dynamodb().await;
    let deadline = tokio::time::Instant::now() + TABLE_DEADLINE;
    loop {
        let output = client
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|error| ProvisionError::Aws {
                table: table.to_owned(),
                operation: "DescribeTable",
                message: sdk_error_message(&error),
            })?;
        let status = output.table().and_then(|t| t.table_status()).cloned();
        match status {
            Some(TableStatus::Active) => return Ok(()),
            Some(TableStatus::Creating) | None => {}
            Some(other) => {
                return Err(ProvisionError::NotActive {
                    table: table.to_owned(),
                    status: other.as_str().to_owned(),
                });
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(ProvisionError::StillCreating {
                table: table.to_owned(),
            });
        }
        tokio::time::sleep(TABLE_POLL).await;
    }
}

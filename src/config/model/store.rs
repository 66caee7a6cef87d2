//! The `store` section: the table processed records are written to.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::config::Located;

/// The table records are written to.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Store {
    /// Table name (DynamoDB on AWS, a SQLite table locally).
    pub table: Located<String>,
    /// The item key, derived from the record so a redelivered record overwrites its own item.
    pub key: TableKey,
    /// Attribute that receives the time of insertion (RFC 3339, UTC, milliseconds).
    #[serde(default = "default_inserted_at")]
    pub inserted_at: Located<String>,
}

fn default_inserted_at() -> Located<String> {
    Located::unlocated("inserted_at".to_owned())
}

/// The table's primary key.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TableKey {
    /// The partition (hash) key.
    pub partition: KeyAttribute,
    /// The sort (range) key, if the table has one.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sort: Option<KeyAttribute>,
}

/// One key attribute: its name in the table and the template that makes its value.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyAttribute {
    /// Attribute name in the table.
    pub name: Located<String>,
    /// Handlebars template over the record's fields, such as `{{symbol}}` or
    /// `{{symbol}}#{{quoted_at}}`.
    pub value: Located<String>,
}

//! One stored item: the key rendered from the data, the typed fields, and the insert time.

use indexmap::IndexMap;
use serde_json::Value;

use crate::config::model::Store as StoreConfig;
use crate::process::Record;

/// An item as written to the table. Attribute values are JSON: strings (`S` in DynamoDB, also
/// timestamps), numbers with their exact digits (`N`) and booleans (`BOOL`).
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    /// The partition key's value.
    pub partition: String,
    /// The sort key's value, when the table has one.
    pub sort: Option<String>,
    /// Every attribute in display order: the key attributes, the fields, then `inserted_at`.
    pub attributes: IndexMap<String, Value>,
}

impl Item {
    /// The item for `record`, inserted at `inserted_at` (RFC 3339 UTC). Key attributes are
    /// always strings; a field with the same name as a key attribute is the key's value.
    pub fn new(record: &Record, store: &StoreConfig, inserted_at: &str) -> Item {
        let mut attributes = IndexMap::with_capacity(record.fields.len() + 3);
        attributes.insert(
            store.key.partition.name.value.clone(),
            Value::String(record.key.partition.clone()),
        );
        if let (Some(sort), Some(value)) = (&store.key.sort, &record.key.sort) {
            attributes.insert(sort.name.value.clone(), Value::String(value.clone()));
        }
        for (name, value) in &record.fields {
            if !attributes.contains_key(name) {
                attributes.insert(name.clone(), value.clone());
            }
        }
        attributes.insert(
            store.inserted_at.value.clone(),
            Value::String(inserted_at.to_owned()),
        );
        Item {
            partition: record.key.partition.clone(),
            sort: record.key.sort.clone(),
            attributes,
        }
    }
}

/// Whether two items' attributes hold the same values, their insert times (the attribute
/// `inserted_at`) aside: the one rule for "this record is not new" (a poll of unchanged data, a
/// redelivery), used by the batch mail and the alert rules alike. Order does not matter.
pub fn same_values(
    a: &IndexMap<String, Value>,
    b: &IndexMap<String, Value>,
    inserted_at: &str,
) -> bool {
    let others = |fields: &IndexMap<String, Value>| {
        fields
            .keys()
            .filter(|name| name.as_str() != inserted_at)
            .count()
    };
    others(a) == others(b)
        && a.iter()
            .filter(|(name, _)| name.as_str() != inserted_at)
            .all(|(name, value)| b.get(name) == Some(value))
}

//! The `process` section: which values of a record are kept, and as what type.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::config::Located;

/// What the processor keeps of each record.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Process {
    /// The fields to keep, by name. Names are letters, digits and `_`, starting with a letter or
    /// `_`; they are the attribute names in the store and the variables in templates.
    pub fields: Located<IndexMap<String, Located<Field>>>,
}

/// One field picked from a record. Its value comes from exactly one of `path` (the record),
/// `root` (the whole response) and `member_name` (the name the record has in its response).
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Field {
    /// JSONPath relative to one record, such as `$.price` or `$['last price']`.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<Located<String>>,
    /// JSONPath relative to the whole response the record came from, such as
    /// `$['Meta Data']['2. Symbol']`: a value every record of the response shares. It is
    /// evaluated when the response is polled and travels in each record's message.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root: Option<Located<String>>,
    /// `true`: the value is the name of the object member the record was selected from, such as
    /// the date of `{"2024-03-15": {…}, …}` selected by `source.records: $.*`. A record that is
    /// an array element, or the whole body, has none (the field is missing).
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member_name: Option<Located<bool>>,
    /// The type the value is converted to.
    #[serde(default, rename = "type")]
    pub kind: Located<FieldType>,
    /// A record without this field (or whose value cannot be converted) is not stored: it is
    /// retried, then moved to the dead-letter queue. An optional field that is missing is left
    /// out of the stored item.
    #[serde(default)]
    pub required: bool,
    /// For `timestamp`: the strftime format of the text, such as `%d-%b-%Y %H:%M:%S`. Without
    /// it, RFC 3339 text and epoch seconds or milliseconds are accepted.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<Located<String>>,
    /// For `timestamp` with a `format` that has no UTC offset: the IANA time zone the text is
    /// in, such as `America/New_York`. Default: UTC.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timezone: Option<Located<String>>,
    /// For `timestamp` in a `timezone` with daylight saving: which instant a local time in the
    /// hour that happens twice (when the clocks go back) means. `earlier` (the default) takes
    /// the first reading, `later` the second, `reject` makes the record a poison record, since
    /// two quotes an hour apart would otherwise share one instant (and one key). A local time
    /// the clocks skipped (when they go forward) is always refused.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ambiguous: Option<Located<Ambiguous>>,
}

impl Process {
    /// Whether any field takes the name of the record's member (`member_name: true`): then the
    /// poller sends it with each record.
    pub fn uses_member_name(&self) -> bool {
        self.fields
            .values()
            .any(|field| field.member_name.as_ref().is_some_and(|m| m.value))
    }

    /// The `root` JSONPaths of the fields, each once: the poller evaluates them on each response
    /// and sends their values with each record.
    pub fn root_paths(&self) -> Vec<Located<String>> {
        let mut paths: Vec<Located<String>> = Vec::new();
        for root in self.fields.values().filter_map(|field| field.root.as_ref()) {
            if !paths.iter().any(|p| p.value == root.value) {
                paths.push(root.clone());
            }
        }
        paths
    }
}

/// Which instant a local time that happened twice (a daylight-saving overlap) means.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Ambiguous {
    /// The first reading (before the clocks went back): the earlier instant.
    #[default]
    Earlier,
    /// The second reading (after the clocks went back): the later instant.
    Later,
    /// Neither: the value is refused and the record becomes a poison record.
    Reject,
}

/// The type of a field. Every value is converted on the way in; one that cannot be converted
/// makes the record a poison record when the field is `required`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    /// Text, as it is.
    #[default]
    String,
    /// A decimal number, from a JSON number or numeric text such as `"51.7600"`; stored without
    /// losing digits.
    Number,
    /// A whole number, from a JSON number or text.
    Integer,
    /// `true` or `false`, from a JSON boolean or the text `true`/`false`.
    Bool,
    /// A point in time, stored as RFC 3339 in UTC.
    Timestamp,
}

impl FieldType {
    /// The type's name as written in the file.
    pub fn name(self) -> &'static str {
        match self {
            FieldType::String => "string",
            FieldType::Number => "number",
            FieldType::Integer => "integer",
            FieldType::Bool => "bool",
            FieldType::Timestamp => "timestamp",
        }
    }
}

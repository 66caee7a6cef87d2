//! Names the stages, `init` and the deploy template agree on: the queue, its dead-letter queue,
//! the alert table, the embedded database file, the table's key and the Lambda function's pipeline variable. A
//! leaf: it knows the pipeline model and nothing that runs it, so backends, `deploy/` and the
//! runtime can all ask it.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::config::Pipeline;

/// The environment variable that names the pipeline file of a Lambda function: the template
/// sets it, the function reads it.
pub const PIPELINE_VARIABLE: &str = "PIPELINE";

/// What the dead-letter queue's name adds to the queue's: `quotes` → `quotes-dlq`.
const DEAD_LETTER_SUFFIX: &str = "-dlq";

/// The type of every key attribute: a DynamoDB string (`S`). Item keys are rendered templates,
/// so always text (`store::item::Item`), whatever the fields they are made of.
pub const KEY_ATTRIBUTE_TYPE: &str = "S";

/// The queue's name: `queue.name`, the last segment of `queue.url`, or the pipeline's name.
pub fn queue_name(pipeline: &Pipeline) -> String {
    if let Some(name) = &pipeline.queue.name {
        return name.value.clone();
    }
    if let Some(url) = &pipeline.queue.url
        && let Some(last) = url.trim_end_matches('/').rsplit('/').next()
        && !last.is_empty()
    {
        return last.to_owned();
    }
    pipeline.name.value.clone()
}

/// The name of the dead-letter queue beside the queue `queue`: `<queue>-dlq`.
pub fn dead_letter_queue_name(queue: &str) -> String {
    format!("{queue}{DEAD_LETTER_SUFFIX}")
}

/// What the alert table's name adds to the records table's: `quotes` → `quotes-alerts`.
const ALERT_TABLE_SUFFIX: &str = "-alerts";

/// The DynamoDB table of a pipeline's alert state, ledger and outbox and its feed status,
/// beside its records table `table`: `<table>-alerts`.
pub fn alert_table(table: &str) -> String {
    format!("{table}{ALERT_TABLE_SUFFIX}")
}

/// The alert table's key: `pk` (what an item is: `series`, `alert`, `outbox`, `meta`, `feed`) and `sk`
/// (which one), both strings (`alert::ledger::dynamodb`, whose expressions spell them too).
pub fn alert_table_key() -> Vec<KeyAttribute> {
    vec![
        KeyAttribute {
            name: "pk".to_owned(),
            role: KeyRole::Partition,
        },
        KeyAttribute {
            name: "sk".to_owned(),
            role: KeyRole::Sort,
        },
    ]
}

/// The embedded database file of the pipeline `pipeline` under `state_dir`: one per pipeline,
/// shared by the local queue and the local store.
pub fn database_path(state_dir: &Path, pipeline: &str) -> PathBuf {
    state_dir.join(format!("{pipeline}.db"))
}

/// The part an attribute plays in the table's key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyRole {
    /// `store.key.partition`: DynamoDB's `HASH` key.
    Partition,
    /// `store.key.sort`: DynamoDB's `RANGE` key.
    Sort,
}

impl KeyRole {
    /// DynamoDB's (and CloudFormation's) name for it: `HASH` or `RANGE`.
    pub fn key_type(self) -> &'static str {
        match self {
            KeyRole::Partition => "HASH",
            KeyRole::Sort => "RANGE",
        }
    }
}

/// One attribute of the table's key, of type [`KEY_ATTRIBUTE_TYPE`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyAttribute {
    /// The attribute's name, such as `symbol`.
    pub name: String,
    /// Partition or sort key.
    pub role: KeyRole,
}

impl fmt::Display for KeyAttribute {
    /// `symbol HASH`: how `init` describes a key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.name, self.role.key_type())
    }
}

/// The table's key schema: the partition key, then the sort key when there is one.
pub fn table_key(pipeline: &Pipeline) -> Vec<KeyAttribute> {
    let key = &pipeline.store.key;
    let mut attributes = vec![KeyAttribute {
        name: key.partition.name.value.clone(),
        role: KeyRole::Partition,
    }];
    attributes.extend(key.sort.as_ref().map(|sort| KeyAttribute {
        name: sort.name.value.clone(),
        role: KeyRole::Sort,
    }));
    attributes
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A pipeline `stocks` with `queue` as its queue section, `key` as its store key and `rest`
    /// (such as a notify section) after that.
    pub(crate) fn pipeline(queue: &str, key: &str, rest: &str) -> Pipeline {
        let yaml = format!(
            "name: stocks\nsource:\n  url: http://127.0.0.1:9/\n  schedule: \"0 * * * * *\"\n  \
             records: $[*]\nqueue:\n{queue}\nprocess:\n  fields:\n    symbol: {{ path: $.symbol }}\n    \
             at: {{ path: $.at }}\nstore:\n  table: quotes\n  key:\n{key}\n{rest}"
        );
        let checked = crate::config::load::check(
            yaml.as_bytes(),
            &crate::config::env::Environment::default(),
            crate::config::load::UnsetVariables::Deny,
        );
        checked
            .pipeline
            .unwrap_or_else(|| panic!("{:#?}", checked.diagnostics))
    }

    pub(crate) const PARTITION: &str = "    partition: { name: symbol, value: \"{{symbol}}\" }";

    #[test]
    fn the_queue_is_its_name_else_the_url_s_last_segment_else_the_pipeline() {
        let named = pipeline("  name: quotes", PARTITION, "");
        let by_url = pipeline(
            "  url: https://sqs.us-east-1.amazonaws.com/123456789012/quotes-by-url/",
            PARTITION,
            "",
        );
        let unnamed = pipeline("  batch_size: 10", PARTITION, "");
        assert_eq!(queue_name(&named), "quotes");
        assert_eq!(queue_name(&by_url), "quotes-by-url");
        assert_eq!(queue_name(&unnamed), "stocks");
    }

    #[test]
    fn the_table_key_is_the_partition_then_the_sort_key() {
        let only_partition = pipeline("  name: quotes", PARTITION, "");
        assert_eq!(
            table_key(&only_partition),
            [KeyAttribute {
                name: "symbol".to_owned(),
                role: KeyRole::Partition
            }]
        );
        let both = pipeline(
            "  name: quotes",
            &format!("{PARTITION}\n    sort: {{ name: at, value: \"{{{{at}}}}\" }}"),
            "",
        );
        let described: Vec<String> = table_key(&both).iter().map(ToString::to_string).collect();
        assert_eq!(described, ["symbol HASH", "at RANGE"]);
    }

    #[test]
    fn the_dead_letter_queue_is_named_after_the_queue() {
        assert_eq!(dead_letter_queue_name("quotes"), "quotes-dlq");
    }

    #[test]
    fn the_alert_table_is_named_after_the_records_table() {
        assert_eq!(alert_table("quotes"), "quotes-alerts");
    }

    #[test]
    fn the_database_is_named_after_the_pipeline() {
        assert_eq!(
            database_path(Path::new(".stockrun"), "stocks"),
            Path::new(".stockrun/stocks.db")
        );
    }

    #[test]
    fn key_attributes_read_as_name_and_dynamodb_key_type() {
        let sort = KeyAttribute {
            name: "quoted_at".to_owned(),
            role: KeyRole::Sort,
        };
        assert_eq!(sort.to_string(), "quoted_at RANGE");
        assert_eq!(KeyRole::Partition.key_type(), "HASH");
    }
}

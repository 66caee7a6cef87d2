//! The message that travels through the queue: one raw record and where it came from. Always
//! JSON, so any consumer (this binary, a Lambda, a person with the AWS console) can read it.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::redact::redact_registered;
use crate::visible;

/// How many of a record's scalar members [`Message::identity`] shows.
const IDENTITY_MEMBERS: usize = 3;

/// How many characters of each value [`Message::identity`] shows.
const IDENTITY_VALUE_CHARS: usize = 32;

/// One record as the poller fetched it, before any field is picked.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// The pipeline's `name`, so a consumer can refuse messages meant for another pipeline.
    pub pipeline: String,
    /// The feed the request was made for (its keys and values); empty without `feeds`.
    #[serde(default)]
    pub feed: Map<String, Value>,
    /// When the response arrived, RFC 3339 UTC with milliseconds.
    pub fetched_at: String,
    /// The record exactly as `source.records` selected it from the response body.
    pub record: Value,
    /// The name of the object member the record was selected from (such as the date of a map
    /// keyed by date), sent only when a field takes it (`member_name: true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<String>,
    /// The values the fields' `root` JSONPaths select from the whole response, by JSONPath as
    /// written (a path that selects nothing, or several values, is absent): the processor sees
    /// only the message, so what the record shares with its response travels with it.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub root: Map<String, Value>,
}

impl Message {
    /// A message for `record` with no member name and no root values.
    pub fn new(
        pipeline: String,
        feed: Map<String, Value>,
        fetched_at: String,
        record: Value,
    ) -> Message {
        Message {
            pipeline,
            feed,
            fetched_at,
            record,
            member: None,
            root: Map::new(),
        }
    }

    /// The JSON text sent to the queue.
    pub fn to_body(&self) -> String {
        MessageRef {
            pipeline: &self.pipeline,
            feed: &self.feed,
            fetched_at: &self.fetched_at,
            record: &self.record,
            member: self.member.as_deref(),
            root: &self.root,
        }
        .to_body()
    }

    /// Enough of the record to find it in the response when it cannot travel (a record over
    /// the queue's size limit): its first few scalar members by name, `symbol="AAPL" price=1.5`,
    /// each value redacted (registered secrets), then cut short and with control characters
    /// escaped. A record that is not a map shows its type.
    pub fn identity(&self) -> String {
        let Value::Object(members) = &self.record else {
            return format!("(a JSON {})", json_kind(&self.record));
        };
        let shown: Vec<String> = members
            .iter()
            .filter(|(_, value)| !value.is_object() && !value.is_array())
            .take(IDENTITY_MEMBERS)
            .map(|(name, value)| {
                let value = match value {
                    Value::String(text) => format!("\"{text}\""),
                    other => other.to_string(),
                };
                let value = redact_registered(&value);
                let cut = match value.char_indices().nth(IDENTITY_VALUE_CHARS) {
                    Some((end, _)) => format!("{}…", &value[..end]),
                    None => value.into_owned(),
                };
                format!("{}={}", visible::one_line(name), visible::one_line(&cut))
            })
            .collect();
        if shown.is_empty() {
            format!(
                "(a map of {} members, none of them a scalar)",
                members.len()
            )
        } else {
            shown.join(" ")
        }
    }
}

/// A [`Message`] made of borrowed parts: the poller writes each record's body straight from the
/// parsed response, without copying the record first. Serialises exactly as a `Message`.
#[derive(Debug, Serialize)]
pub struct MessageRef<'a> {
    /// [`Message::pipeline`].
    pub pipeline: &'a str,
    /// [`Message::feed`].
    pub feed: &'a Map<String, Value>,
    /// [`Message::fetched_at`].
    pub fetched_at: &'a str,
    /// [`Message::record`].
    pub record: &'a Value,
    /// [`Message::member`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member: Option<&'a str>,
    /// [`Message::root`].
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub root: &'a Map<String, Value>,
}

impl MessageRef<'_> {
    /// The JSON text sent to the queue.
    pub fn to_body(&self) -> String {
        serde_json::to_string(self).expect("a JSON value always serialises")
    }
}

/// The JSON type of a value in words (`string`, `number`, `object`, …), for messages that must
/// not show the value itself.
pub fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn message(record: Value) -> Message {
        Message::new(
            "p".to_owned(),
            Map::new(),
            "2024-01-01T00:00:00.000Z".to_owned(),
            record,
        )
    }

    #[test]
    fn a_body_written_from_borrowed_parts_is_the_message_serialised() {
        let mut full = message(json!({"symbol": "X", "price": 1.50}));
        full.member = Some("2024-03-15".to_owned());
        full.root.insert("$.meta".to_owned(), json!("IBM"));
        for message in [message(json!([1])), full] {
            let body = message.to_body();
            assert_eq!(body, serde_json::to_string(&message).unwrap());
            assert_eq!(serde_json::from_str::<Message>(&body).unwrap(), message);
        }
    }

    #[test]
    fn identity_shows_the_first_scalars_short_and_escaped() {
        let record = json!({
            "symbol": "HUGE\u{1b}]0;x\u{7}",
            "nested": {"a": 1},
            "price": 1.5,
            "note": "x".repeat(1000),
            "fourth": true,
        });
        let identity = message(record).identity();
        assert!(
            identity.starts_with(r#"symbol="HUGE\x1b]0;x\x07" price=1.5 note="xxx"#),
            "{identity}"
        );
        assert!(identity.ends_with('…'), "{identity}");
        assert!(!identity.contains("fourth") && !identity.contains('\u{1b}'));
        assert_eq!(message(json!([1, 2])).identity(), "(a JSON array)");
    }
}

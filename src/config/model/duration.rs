//! `Duration`: a span of time written the way people write it (`10s`, `1m`, `500ms`).

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

/// A duration such as `10s`, `1m`, `1m 30s` or `500ms`, parsed by `humantime`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Duration(pub std::time::Duration);

impl Duration {
    /// A duration of whole seconds (used for defaults).
    pub const fn from_secs(secs: u64) -> Duration {
        Duration(std::time::Duration::from_secs(secs))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        humantime::parse_duration(text.trim())
            .map(Duration)
            .map_err(|err| {
                de::Error::custom(format!(
                    "invalid duration `{text}`: {err}; write a number and a unit, such as `10s`, `1m` or `500ms`"
                ))
            })
    }
}

/// Written back as `humantime` writes it (`1m 30s`), which it parses to the same duration.
impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl JsonSchema for Duration {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A duration: a number and a unit, such as `10s`, `1m`, `1m 30s` or `500ms`.",
            "type": "string",
            "pattern": "^\\s*([0-9]+\\s*[a-zA-Zµ]+\\s*)+$"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duration_is_written_back_as_text_that_parses_to_it() {
        for written in ["10s", "1m 30s", "500ms", "2h", "1day"] {
            let duration: Duration = serde_saphyr::from_str(written).unwrap();
            let text = serde_json::to_value(duration).unwrap();
            let again: Duration = serde_saphyr::from_str(text.as_str().unwrap()).unwrap();
            assert_eq!(again, duration, "{written} → {text}");
        }
    }
}

//! Reading a queued message body: the parts of a [`Message`](crate::message::Message) the
//! processor uses. Parsing the record is most of a record's processing time, so when every field
//! path starts with a name (`$.price`, `$['last price'].x`), only the record's top-level
//! members those names select are built; the rest is checked as JSON and skipped. The member
//! name and `root` values a message may carry are read whole (they are small).

use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// What the processor needs of a message.
pub(crate) struct Incoming {
    /// The pipeline the message is for.
    pub pipeline: String,
    /// The feed it was fetched for.
    pub feed: Map<String, Value>,
    /// The record: whole, or only its members named in `keep`.
    pub record: Value,
    /// The name of the member the record was, when the message carries it.
    pub member: Option<String>,
    /// The values of the fields' `root` JSONPaths, by path.
    pub root: Map<String, Value>,
}

/// Reads a message body, keeping only these top-level record members (all of them: `None`).
pub(crate) fn parse(body: &str, keep: Option<&[String]>) -> serde_json::Result<Incoming> {
    let mut deserializer = serde_json::Deserializer::from_str(body);
    let incoming = deserializer.deserialize_map(MessageVisitor { keep })?;
    deserializer.end()?;
    Ok(incoming)
}

struct MessageVisitor<'k> {
    keep: Option<&'k [String]>,
}

impl<'de> Visitor<'de> for MessageVisitor<'_> {
    type Value = Incoming;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a message object with `pipeline`, `feed`, `fetched_at` and `record`")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Incoming, A::Error> {
        let (mut pipeline, mut feed, mut fetched_at, mut record) = (None, None, None, None);
        let (mut member, mut root) = (None, None);
        while let Some(key) = map.next_key::<Member>()? {
            match key {
                Member::Pipeline => set(&mut pipeline, "pipeline", map.next_value::<String>()?)?,
                Member::Feed => set(&mut feed, "feed", map.next_value::<Map<String, Value>>()?)?,
                Member::FetchedAt => {
                    set(
                        &mut fetched_at,
                        "fetched_at",
                        map.next_value::<IgnoredString>()?,
                    )?;
                }
                Member::Record => set(
                    &mut record,
                    "record",
                    match self.keep {
                        Some(keep) => map.next_value_seed(RecordSeed { keep })?,
                        None => map.next_value::<Value>()?,
                    },
                )?,
                Member::Name => set(&mut member, "member", map.next_value::<String>()?)?,
                Member::Root => set(&mut root, "root", map.next_value::<Map<String, Value>>()?)?,
                Member::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let pipeline = pipeline.ok_or_else(|| de::Error::missing_field("pipeline"))?;
        fetched_at.ok_or_else(|| de::Error::missing_field("fetched_at"))?;
        Ok(Incoming {
            pipeline,
            feed: feed.unwrap_or_default(),
            record: record.ok_or_else(|| de::Error::missing_field("record"))?,
            member,
            root: root.unwrap_or_default(),
        })
    }
}

/// The members of a message (others are ignored, as `Message` ignores them).
#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum Member {
    Pipeline,
    Feed,
    FetchedAt,
    Record,
    #[serde(rename = "member")]
    Name,
    Root,
    #[serde(other)]
    Other,
}

/// A string that is checked and dropped (`fetched_at` is not used here).
struct IgnoredString;

impl<'de> Deserialize<'de> for IgnoredString {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Check;
        impl Visitor<'_> for Check {
            type Value = IgnoredString;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E>(self, _: &str) -> Result<IgnoredString, E> {
                Ok(IgnoredString)
            }
        }
        deserializer.deserialize_str(Check)
    }
}

fn set<T, E: de::Error>(slot: &mut Option<T>, name: &'static str, value: T) -> Result<(), E> {
    match slot.replace(value) {
        Some(_) => Err(E::duplicate_field(name)),
        None => Ok(()),
    }
}

/// A record with only the `keep` members. A record that is not an object has no members a
/// name can select, so it reads as `null`.
struct RecordSeed<'k> {
    keep: &'k [String],
}

impl<'de> DeserializeSeed<'de> for RecordSeed<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for RecordSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut kept = Map::with_capacity(self.keep.len());
        while let Some(name) = map.next_key_seed(KeySeed { keep: self.keep })? {
            match name {
                Some(name) => {
                    kept.insert(name.clone(), map.next_value::<Value>()?);
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Value::Object(kept))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Value::Null)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_str<E>(self, _: &str) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
}

/// A record member's name: the kept name it equals, or `None` (no allocation either way).
struct KeySeed<'k> {
    keep: &'k [String],
}

impl<'de, 'k> DeserializeSeed<'de> for KeySeed<'k> {
    type Value = Option<&'k String>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de, 'k> Visitor<'de> for KeySeed<'k> {
    type Value = Option<&'k String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_str<E>(self, name: &str) -> Result<Self::Value, E> {
        Ok(self.keep.iter().find(|kept| *kept == name))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::parse;

    const BODY: &str = r#"{"pipeline":"p","fetched_at":"t","extra":[1],"record":
        {"a":1.50,"b":{"c":[null,"x"]},"skip":{"deep":[1,2,{"e":"\u00e9"}]},"d\"q":"y"}}"#;

    #[test]
    fn only_the_kept_members_are_built() {
        let keep = [
            "a".to_owned(),
            "b".to_owned(),
            "d\"q".to_owned(),
            "absent".to_owned(),
        ];
        let pruned = parse(BODY, Some(&keep)).unwrap();
        assert_eq!(pruned.pipeline, "p");
        assert!(pruned.feed.is_empty());
        assert_eq!(
            pruned.record.to_string(),
            r#"{"a":1.50,"b":{"c":[null,"x"]},"d\"q":"y"}"#
        );
        let whole = parse(BODY, None).unwrap();
        assert_eq!(whole.record["skip"]["deep"][2]["e"], json!("é"));
    }

    #[test]
    fn a_record_that_is_not_an_object_has_no_members() {
        let keep = ["a".to_owned()];
        for record in ["12.5", "\"text\"", "[{\"a\":1}]", "true", "null"] {
            let body = format!(r#"{{"pipeline":"p","fetched_at":"t","record":{record}}}"#);
            let got = parse(&body, Some(&keep)).unwrap().record;
            assert!(got.get("a").is_none(), "{record}: {got}");
        }
    }

    #[test]
    fn the_message_shape_is_checked() {
        let error = |body: &str| parse(body, Some(&[])).err().expect(body).to_string();
        assert!(error(r#"{"pipeline":"p","record":{}}"#).starts_with("missing field `fetched_at`"));
        assert!(error(r#"{"fetched_at":"t","record":{}}"#).starts_with("missing field `pipeline`"));
        assert!(
            error(r#"{"pipeline":"p","fetched_at":"t"}"#).starts_with("missing field `record`")
        );
        assert!(
            error(r#"{"pipeline":1,"fetched_at":"t","record":{}}"#).starts_with("invalid type")
        );
        assert!(
            error(r#"{"pipeline":"p","fetched_at":2,"record":{}}"#).starts_with("invalid type")
        );
        assert!(
            error(r#"{"pipeline":"p","pipeline":"q","fetched_at":"t","record":{}}"#)
                .starts_with("duplicate field `pipeline`")
        );
        assert!(
            error(r#"{"pipeline":"p","fetched_at":"t","record":{"a":}}"#)
                .contains("expected value")
        );
        assert!(
            error(r#"{"pipeline":"p","fetched_at":"t","record":{}} x"#)
                .starts_with("trailing characters")
        );
        assert!(error("[]").starts_with("invalid type"));
    }

    #[test]
    fn the_member_name_and_root_values_are_read() {
        let body = r#"{"pipeline":"p","fetched_at":"t","record":{"a":1},"member":"2024-03-15",
            "root":{"$.meta.symbol":"IBM"}}"#;
        let incoming = parse(body, Some(&[])).unwrap();
        assert_eq!(incoming.member.as_deref(), Some("2024-03-15"));
        assert_eq!(
            Value::Object(incoming.root),
            json!({"$.meta.symbol": "IBM"})
        );
        let plain = parse(r#"{"pipeline":"p","fetched_at":"t","record":{}}"#, None).unwrap();
        assert!(plain.member.is_none() && plain.root.is_empty());
    }

    #[test]
    fn the_feed_is_read() {
        let body = r#"{"pipeline":"p","feed":{"symbol":"MSFT"},"fetched_at":"t","record":{}}"#;
        let feed = parse(body, None).unwrap().feed;
        assert_eq!(Value::Object(feed), json!({"symbol": "MSFT"}));
    }
}

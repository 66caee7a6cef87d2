//! Whether a body parses as a `serde_json::Value`, found without building it: the body is read
//! by the same parser, with the same checks (syntax, UTF-8, escapes and lone surrogates in
//! strings, exact-digit numbers, nesting depth, trailing characters), and nothing is kept. A
//! body read by a [`Chain`](super::chain::Chain) is checked whole first, so it is refused (or
//! read) exactly as the parsed body would be, whichever part of it the paths reach.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// Whether `json` parses as a `serde_json::Value`. `false` may also mean that the parsed body
/// should decide (a member named as serde_json's private markers): the caller parses it then.
pub(super) fn parses(json: &[u8]) -> bool {
    serde_json::from_slice::<Valid>(json).is_ok()
}

/// Any JSON value, read and dropped.
struct Valid;

impl<'de> Deserialize<'de> for Valid {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Valid, D::Error> {
        deserializer.deserialize_any(Valid)
    }
}

impl<'de> Visitor<'de> for Valid {
    type Value = Valid;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("any valid JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Valid, E> {
        Ok(Valid)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Valid, E> {
        Ok(Valid)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Valid, E> {
        Ok(Valid)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Valid, E> {
        Ok(Valid)
    }

    fn visit_str<E>(self, _: &str) -> Result<Valid, E> {
        Ok(Valid)
    }

    fn visit_unit<E>(self) -> Result<Valid, E> {
        Ok(Valid)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut elements: A) -> Result<Valid, A::Error> {
        while elements.next_element::<Valid>()?.is_some() {}
        Ok(Valid)
    }

    /// An object, or (with `arbitrary_precision`) a number, which the parser hands over as an
    /// object of one private member holding its digits: checked as `Value` checks it.
    fn visit_map<A: MapAccess<'de>>(self, mut members: A) -> Result<Valid, A::Error> {
        match members.next_key_seed(FirstKey)? {
            None => Ok(Valid),
            Some(First::Number) => members.next_value_seed(NumberText),
            Some(First::Raw) => Err(de::Error::custom("left to the parsed body")),
            Some(First::Member) => {
                members.next_value::<Valid>()?;
                while members.next_key_seed(FirstKey)?.is_some() {
                    members.next_value::<Valid>()?;
                }
                Ok(Valid)
            }
        }
    }
}

/// What an object's first member name says it is.
enum First {
    /// A number's digits follow.
    Number,
    /// serde_json's raw-value marker: the parsed body decides what it is.
    Raw,
    /// An ordinary member.
    Member,
}

/// Reads an object's member name (as a string, as `Value` reads it) and classifies the first.
struct FirstKey;

impl<'de> DeserializeSeed<'de> for FirstKey {
    type Value = First;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<First, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for FirstKey {
    type Value = First;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a string key")
    }

    fn visit_str<E>(self, name: &str) -> Result<First, E> {
        Ok(match name {
            "$serde_json::private::Number" => First::Number,
            "$serde_json::private::RawValue" => First::Raw,
            _ => First::Member,
        })
    }
}

/// A number's digits, which must parse as a `serde_json::Number`.
struct NumberText;

impl<'de> DeserializeSeed<'de> for NumberText {
    type Value = Valid;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Valid, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for NumberText {
    type Value = Valid;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a number")
    }

    fn visit_str<E: de::Error>(self, digits: &str) -> Result<Valid, E> {
        digits
            .parse::<serde_json::Number>()
            .map(|_| Valid)
            .map_err(E::custom)
    }
}

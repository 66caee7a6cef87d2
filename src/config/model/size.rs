//! `Size`: an amount of bytes written the way people write it (`10MiB`, `512 KiB`, `1048576`).

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

/// A size such as `10MiB`, `512KiB` or `2MB` (parsed by `bytesize`), or a plain number of bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Size(pub u64);

impl Size {
    /// A size of whole mebibytes (used for defaults).
    pub const fn mib(mib: u64) -> Size {
        Size(mib * 1024 * 1024)
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", bytesize::ByteSize(self.0).display().iec())
    }
}

/// Either form YAML may give.
#[derive(Deserialize)]
#[serde(untagged)]
enum Written {
    Bytes(u64),
    Text(String),
}

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Written::deserialize(deserializer)? {
            Written::Bytes(bytes) => Ok(Size(bytes)),
            Written::Text(text) => text
                .trim()
                .parse::<bytesize::ByteSize>()
                .map(|size| Size(size.as_u64()))
                .map_err(|err| {
                    de::Error::custom(format!(
                        "invalid size `{text}`: {err}; write a number and a unit, such as `10MiB`, `512KiB` or `2MB`"
                    ))
                }),
        }
    }
}

/// Written back as text (`10.0 MiB`) when that parses to the same number of bytes, else as
/// the number of bytes (the text is rounded to one decimal).
impl Serialize for Size {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let text = self.to_string();
        match text.parse::<bytesize::ByteSize>() {
            Ok(size) if size.as_u64() == self.0 => serializer.serialize_str(&text),
            _ => serializer.serialize_u64(self.0),
        }
    }
}

impl JsonSchema for Size {
    fn schema_name() -> Cow<'static, str> {
        "Size".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A size: a number and a unit, such as `10MiB`, `512KiB` or `2MB`, or a number of bytes.",
            "type": ["string", "integer"],
            "pattern": "^\\s*[0-9]+(\\.[0-9]+)?\\s*[a-zA-Z]*\\s*$",
            "minimum": 0
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_in_binary_and_decimal_units_or_as_bytes() {
        let parse = |yaml: &str| serde_saphyr::from_str::<Size>(yaml).map(|s| s.0);
        assert_eq!(parse("10MiB").unwrap(), 10 * 1024 * 1024);
        assert_eq!(parse("512 KiB").unwrap(), 512 * 1024);
        assert_eq!(parse("2MB").unwrap(), 2_000_000);
        assert_eq!(parse("1048576").unwrap(), 1_048_576);
        let error = parse("lots").unwrap_err().to_string();
        assert!(error.contains("invalid size `lots`"), "{error}");
        assert_eq!(Size::mib(10).to_string(), "10.0 MiB");
    }

    #[test]
    fn sizes_are_written_back_as_text_only_when_it_is_exact() {
        let write = |size: Size| serde_json::to_string(&size).unwrap();
        assert_eq!(write(Size::mib(10)), "\"10.0 MiB\"");
        assert_eq!(write(Size(1_000_001)), "1000001");
    }
}

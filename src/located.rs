//! `Located<T>`: a value from the pipeline file together with where it was written, so every
//! diagnostic can point at `file:line:column`.

use std::borrow::Cow;
use std::ops::Deref;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_saphyr::Spanned;

/// A position in the pipeline file: 1-based line and column, and the byte offset of the value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    /// 1-based line; 0 when the value did not come from the file (a default).
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// Byte offset of the value's first character, when known.
    pub offset: Option<usize>,
    /// Length in bytes of the value as written (quotes and escapes included), when known.
    pub len: Option<usize>,
}

impl Position {
    /// A position for a value that was not written in the file (a default or a test value).
    pub const UNKNOWN: Position = Position {
        line: 0,
        column: 0,
        offset: None,
        len: None,
    };

    /// Whether this position points into the file.
    pub fn is_known(&self) -> bool {
        self.line > 0
    }

    /// The position serde-saphyr recorded.
    pub fn from_saphyr(location: &serde_saphyr::Location) -> Position {
        let span = location.span();
        Position {
            line: usize::try_from(location.line()).unwrap_or(0),
            column: usize::try_from(location.column()).unwrap_or(0),
            offset: span.byte_offset().and_then(|o| usize::try_from(o).ok()),
            len: span.byte_len().and_then(|l| usize::try_from(l).ok()),
        }
    }
}

/// A value of the pipeline file with the position where it was written.
///
/// It dereferences to the value, and its JSON Schema is the value's: the position is an artefact
/// of loading, not part of the format.
#[derive(Clone, Debug)]
pub struct Located<T> {
    /// The value as deserialized.
    pub value: T,
    /// Where the value starts in the file.
    pub position: Position,
}

impl<T> Located<T> {
    /// A value that was not read from a file (defaults, tests).
    pub fn unlocated(value: T) -> Located<T> {
        Located {
            value,
            position: Position::UNKNOWN,
        }
    }
}

impl<T: Default> Default for Located<T> {
    fn default() -> Self {
        Located::unlocated(T::default())
    }
}

impl<T: PartialEq> PartialEq for Located<T> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl<T> Deref for Located<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> From<T> for Located<T> {
    fn from(value: T) -> Self {
        Located::unlocated(value)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Located<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = Spanned::<T>::deserialize(deserializer)?;
        Ok(Located {
            position: Position::from_saphyr(&spanned.referenced),
            value: spanned.value,
        })
    }
}

/// Written as the value alone: the position is an artefact of loading.
impl<T: Serialize> Serialize for Located<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(serializer)
    }
}

impl<T: JsonSchema> JsonSchema for Located<T> {
    fn inline_schema() -> bool {
        T::inline_schema()
    }
    fn schema_name() -> Cow<'static, str> {
        T::schema_name()
    }
    fn schema_id() -> Cow<'static, str> {
        T::schema_id()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        T::json_schema(generator)
    }
}

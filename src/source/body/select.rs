//! What one JSONPath selects in a body, read either from the parsed body (jsonpath-rust) or from
//! its text (a [`Chain`](super::chain::Chain)): handed on one value at a time (from the text,
//! each value is parsed only when it is handed on, and dropped after), or kept as places to find
//! the values again (a response's records, handed on a few at a time).

use std::ops::Range;

use jsonpath_rust::query::{QueryRef, js_path_process};
use serde_json::Value;
use serde_json::value::RawValue;

use super::chain::{NotPlain, Selected};
use super::{BodyError, Path};

/// A response body, as it is read.
pub(super) enum Body<'a> {
    /// Parsed whole.
    Tree(&'a Value),
    /// Its text, valid JSON, followed by chains.
    Text(&'a RawValue),
}

/// Why a body was not read.
pub(super) enum Stop {
    /// The body holds no records: this is why.
    Rejected(BodyError),
    /// The text cannot be followed as the parsed body would be read: read the parsed body
    /// (nothing was handed on yet).
    Tree,
}

impl Stop {
    /// The error, for a parsed body (which is never left to another reading).
    pub(super) fn into_error(self) -> BodyError {
        match self {
            Stop::Rejected(error) => error,
            Stop::Tree => unreachable!("a parsed body is read by jsonpath-rust, not followed"),
        }
    }
}

impl From<BodyError> for Stop {
    fn from(error: BodyError) -> Stop {
        Stop::Rejected(error)
    }
}

impl From<NotPlain> for Stop {
    fn from(_: NotPlain) -> Stop {
        Stop::Tree
    }
}

/// What one JSONPath selected, in order, not handed on yet.
pub(super) struct Matches<'a> {
    path: &'a Path,
    found: Found<'a>,
}

enum Found<'a> {
    Tree(Vec<QueryRef<'a, Value>>),
    Text(Vec<Selected<'a>>),
}

impl<'a> Body<'a> {
    /// What `path` selects in the body. A path that is not a chain cannot follow the text.
    pub(super) fn select(&self, path: &'a Path) -> Result<Matches<'a>, Stop> {
        let found = match self {
            Body::Tree(tree) => {
                Found::Tree(js_path_process(&path.query, *tree).map_err(|err| {
                    BodyError::Query {
                        path: path.text.clone(),
                        reason: err.to_string(),
                    }
                })?)
            }
            Body::Text(text) => Found::Text(path.chain.as_ref().ok_or(Stop::Tree)?.select(text)?),
        };
        Ok(Matches { path, found })
    }
}

impl Matches<'_> {
    /// Hands each value on in order.
    pub(super) fn each(self, mut each: impl FnMut(&Value)) -> Result<(), BodyError> {
        match self.found {
            Found::Tree(found) => found.into_iter().for_each(|found| each(found.val)),
            Found::Text(found) => {
                for selected in found {
                    each(&parsed(selected.text, self.path)?);
                }
            }
        }
        Ok(())
    }

    /// How many values were selected, and the first, copied.
    pub(super) fn first(self) -> Result<(usize, Option<Value>), BodyError> {
        let mut count = 0;
        let mut first = None;
        self.each(|value| {
            count += 1;
            if count == 1 {
                first = Some(value.clone());
            }
        })?;
        Ok((count, first))
    }

    /// Where each value is, to be found again later: its bytes in `body` (the text the values
    /// were selected from) and its member name, or its normalized path in the parsed body.
    pub(super) fn places(self, body: &[u8]) -> Places {
        match self.found {
            Found::Tree(found) => Places::Tree(found.into_iter().map(|found| found.path).collect()),
            Found::Text(found) => Places::Text(
                found
                    .into_iter()
                    .map(|selected| {
                        // A value's text is borrowed from the body: its address says where.
                        let text = selected.text.get();
                        let start = text.as_ptr() as usize - body.as_ptr() as usize;
                        (start..start + text.len(), selected.member)
                    })
                    .collect(),
            ),
        }
    }
}

/// Where a path's values are in a body.
pub(super) enum Places {
    /// In its text: each value's bytes and member name.
    Text(Vec<(Range<usize>, Option<String>)>),
    /// In the parsed body: each value's normalized path (RFC 9535 §2.7).
    Tree(Vec<String>),
}

/// The value whose text is `text`, selected by `path` (the text parsed whole before it was
/// followed, so each of its values does).
pub(super) fn parsed(text: &RawValue, path: &Path) -> Result<Value, BodyError> {
    serde_json::from_str(text.get()).map_err(|err| BodyError::Query {
        path: path.text.clone(),
        reason: err.to_string(),
    })
}

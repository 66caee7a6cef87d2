//! What one JSONPath selects in a body, read either from the parsed body (jsonpath-rust) or from
//! its text (a [`Chain`](super::chain::Chain)), and handed on one value at a time: from the
//! text, each value is parsed only when it is handed on and dropped after.

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
    /// Hands each value on in order, with its member name when `member` (when it was a member).
    pub(super) fn each(
        self,
        member: bool,
        mut each: impl FnMut(&Value, Option<&str>),
    ) -> Result<(), BodyError> {
        match self.found {
            Found::Tree(found) => {
                for found in found {
                    let name = if member {
                        last_member(&found.path)
                    } else {
                        None
                    };
                    each(found.val, name.as_deref());
                }
            }
            Found::Text(found) => {
                for selected in found {
                    // The text parsed whole before it was followed, so each of its values does.
                    let value: Value =
                        serde_json::from_str(selected.text.get()).map_err(|err| {
                            BodyError::Query {
                                path: self.path.text.clone(),
                                reason: err.to_string(),
                            }
                        })?;
                    let name = if member {
                        selected.member.as_deref()
                    } else {
                        None
                    };
                    each(&value, name);
                }
            }
        }
        Ok(())
    }

    /// How many values were selected, and the first, copied.
    pub(super) fn first(self) -> Result<(usize, Option<Value>), BodyError> {
        let mut count = 0;
        let mut first = None;
        self.each(false, |value, _| {
            count += 1;
            if count == 1 {
                first = Some(value.clone());
            }
        })?;
        Ok((count, first))
    }
}

/// The member name a normalized path (RFC 9535 §2.7, as jsonpath-rust writes them:
/// `$['a']['b c'][0]`) ends with; `None` when it ends with an index or is `$`.
pub(super) fn last_member(path: &str) -> Option<String> {
    let mut chars = path.strip_prefix('$')?.chars();
    let mut last = None;
    while let Some(open) = chars.next() {
        if open != '[' {
            return None;
        }
        match chars.next()? {
            '\'' => {
                let mut name = String::new();
                loop {
                    match chars.next()? {
                        '\'' => break,
                        '\\' => name.push(match chars.next()? {
                            'b' => '\u{8}',
                            'f' => '\u{c}',
                            'n' => '\n',
                            'r' => '\r',
                            't' => '\t',
                            'u' => {
                                let hex: String = chars.by_ref().take(4).collect();
                                char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?
                            }
                            other => other,
                        }),
                        c => name.push(c),
                    }
                }
                if chars.next()? != ']' {
                    return None;
                }
                last = Some(name);
            }
            _ => {
                for c in chars.by_ref() {
                    if c == ']' {
                        break;
                    }
                }
                last = None;
            }
        }
    }
    last
}

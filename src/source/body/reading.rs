//! A response being read: what it holds besides its records (`root` values, the next page), and
//! where its records are, handed on a few at a time ([`Reading::each_in`]) so that only a few of
//! their messages are written at once. From the body's text, a record is parsed when it is
//! handed on and dropped after; from the parsed body, it is found again by its normalized path.

use std::ops::Range;

use serde_json::{Map, Value};

use super::select::Places;
use super::{BodyError, NextValue};

/// One record as [`Reading::each_in`] hands it on, with what it shares with its response; it
/// lives only for the call.
pub(crate) struct Record<'a> {
    /// The record as `source.records` selected it.
    pub(crate) value: &'a Value,
    /// The name of the member it was, when it was one and that is wanted.
    pub(crate) member: Option<&'a str>,
    /// The values of the `root` JSONPaths that select exactly one value, by JSONPath.
    pub(crate) root: &'a Map<String, Value>,
}

/// A response whose `errors`, `root` values and next page are read, its records waiting.
pub(crate) struct Reading {
    /// The values of the `root` JSONPaths that select exactly one value, by JSONPath.
    pub(crate) root: Map<String, Value>,
    /// The next page's link or cursor (`None`: this is the last page), or why the value found
    /// there is neither.
    pub(crate) next: NextValue,
    records: Records,
    /// Whether each record's member name is handed on.
    member_name: bool,
}

/// Where a response's records are.
pub(super) enum Records {
    /// In the body's text (its bytes): each record's bytes and member name.
    Text {
        body: Vec<u8>,
        places: Vec<(Range<usize>, Option<String>)>,
    },
    /// In the parsed body: each record's normalized path.
    Tree { tree: Value, paths: Vec<String> },
}

impl Records {
    /// Records at `places` in the text `body`.
    pub(super) fn text(body: Vec<u8>, places: Places) -> Records {
        match places {
            Places::Text(places) => Records::Text { body, places },
            Places::Tree(_) => unreachable!("values selected from a text are places in it"),
        }
    }

    /// Records at `places` in the parsed body `tree`.
    pub(super) fn tree(tree: Value, places: Places) -> Records {
        match places {
            Places::Tree(paths) => Records::Tree { tree, paths },
            Places::Text(_) => unreachable!("values selected from a tree are paths in it"),
        }
    }
}

impl Reading {
    /// A reading of `records`, with the response's `root` values and `next` page.
    pub(super) fn new(
        records: Records,
        root: Map<String, Value>,
        next: NextValue,
        member_name: bool,
    ) -> Reading {
        Reading {
            root,
            next,
            records,
            member_name,
        }
    }

    /// The next page's link or cursor, the rest dropped.
    pub(crate) fn into_next(self) -> NextValue {
        self.next
    }

    /// How many records the response holds.
    pub(crate) fn len(&self) -> usize {
        match &self.records {
            Records::Text { places, .. } => places.len(),
            Records::Tree { paths, .. } => paths.len(),
        }
    }

    /// Hands on the records in `range` (their indices among the response's records, as
    /// `source.records` selected them; past the last, none), in order. The error (never, for a body read whole
    /// first) says why a record could not be read: the feed fails.
    pub(crate) fn each_in(
        &self,
        range: Range<usize>,
        mut each: impl FnMut(Record<'_>),
    ) -> Result<(), BodyError> {
        let unreadable = |reason: String| BodyError::Query {
            path: "source.records".to_owned(),
            reason,
        };
        let end = range.end.min(self.len());
        let range = range.start.min(end)..end;
        match &self.records {
            Records::Text { body, places } => {
                for (bytes, member) in &places[range] {
                    let value: Value = serde_json::from_slice(&body[bytes.clone()])
                        .map_err(|err| unreadable(err.to_string()))?;
                    each(Record {
                        value: &value,
                        member: member.as_deref().filter(|_| self.member_name),
                        root: &self.root,
                    });
                }
            }
            Records::Tree { tree, paths } => {
                for path in &paths[range] {
                    let value = steps(path).and_then(|steps| {
                        let value = resolve(tree, &steps)?;
                        Some((value, steps))
                    });
                    let (value, steps) =
                        value.ok_or_else(|| unreadable(format!("{path} is not in the body")))?;
                    let member = match steps.last() {
                        Some(Step::Name(name)) if self.member_name => Some(name.as_str()),
                        _ => None,
                    };
                    each(Record {
                        value,
                        member,
                        root: &self.root,
                    });
                }
            }
        }
        Ok(())
    }
}

/// One step of a normalized path.
#[derive(Debug, PartialEq)]
pub(super) enum Step {
    /// `['name']`.
    Name(String),
    /// `[index]`.
    Index(usize),
}

/// The value at `steps` in `tree`.
fn resolve<'a>(tree: &'a Value, steps: &[Step]) -> Option<&'a Value> {
    steps.iter().try_fold(tree, |value, step| match step {
        Step::Name(name) => value.as_object()?.get(name),
        Step::Index(index) => value.as_array()?.get(*index),
    })
}

/// The steps of a normalized path (RFC 9535 §2.7, as jsonpath-rust writes them:
/// `$['a']['b c'][0]`); `None` when it is not one.
pub(super) fn steps(path: &str) -> Option<Vec<Step>> {
    let mut chars = path.strip_prefix('$')?.chars();
    let mut steps = Vec::new();
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
                steps.push(Step::Name(name));
            }
            first => {
                let mut digits = String::from(first);
                for c in chars.by_ref() {
                    if c == ']' {
                        break;
                    }
                    digits.push(c);
                }
                steps.push(Step::Index(digits.parse().ok()?));
            }
        }
    }
    Some(steps)
}

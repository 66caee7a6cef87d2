//! The JSONPaths a response can be read by without parsing all of it: a chain of member names
//! and indices, optionally ending in one wildcard (`$[*]`, `$.data[*]`,
//! `$['Time Series (Daily)'].*`, `$.message`, `$['Meta Data']['2. Symbol']`, `$`). Such a path
//! is followed through the body's text: each level on the way is split into its members as
//! slices of the text ([`RawValue`]), and only what the path selects is ever parsed, one value
//! at a time. It selects what jsonpath-rust selects on the parsed body, in the same order and
//! with the same member names (a duplicate name: the last value, at the first one's place, as
//! `serde_json::Map` keeps it). Any other JSONPath (filters, slices, `..`, several selectors)
//! needs the parsed body.

use indexmap::IndexMap;
use jsonpath_rust::parser::model::{JpQuery, Segment, Selector};
use serde_json::value::RawValue;

/// A JSONPath that is a chain of names and indices, with or without a last wildcard.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Chain {
    steps: Vec<Step>,
    /// Ends in `*` / `[*]`: every element or member value of where the steps lead.
    wildcard: bool,
}

/// One step of a [`Chain`].
#[derive(Clone, Debug, PartialEq)]
enum Step {
    /// `.name` or `['name']`: that member of an object.
    Name(String),
    /// `[i]`: that element of an array; a negative index counts from the end.
    Index(i64),
}

/// One value a [`Chain`] selected, as its text in the body.
pub(super) struct Selected<'a> {
    /// The value's text.
    pub(super) text: &'a RawValue,
    /// The name of the member it was, when it was one (not an element, not the whole body).
    pub(super) member: Option<String>,
}

/// Why a body's text cannot be followed as the parsed body would be: an object with one of
/// serde_json's private member names (which its parser reads as a number or raw text, not as a
/// member), or a value that does not split (never, for a body that parses). The parsed body
/// decides.
#[derive(Debug)]
pub(super) struct NotPlain;

impl Chain {
    /// The chain `query` is, or `None` when it is anything else.
    pub(super) fn of(query: &JpQuery) -> Option<Chain> {
        let mut chain = Chain {
            steps: Vec::new(),
            wildcard: false,
        };
        for segment in &query.segments {
            let selector = match segment {
                Segment::Selector(selector) => selector,
                Segment::Selectors(selectors) if selectors.len() == 1 => &selectors[0],
                _ => return None,
            };
            if chain.wildcard {
                return None;
            }
            match selector {
                Selector::Name(name) => chain.steps.push(Step::Name(name.clone())),
                Selector::Index(index) => chain.steps.push(Step::Index(*index)),
                Selector::Wildcard => chain.wildcard = true,
                Selector::Slice(..) | Selector::Filter(_) => return None,
            }
        }
        Some(chain)
    }

    /// What the chain selects in `body` (valid JSON), in order, none of it parsed.
    pub(super) fn select<'a>(&self, body: &'a RawValue) -> Result<Vec<Selected<'a>>, NotPlain> {
        let mut at = Selected {
            text: body,
            member: None,
        };
        for step in &self.steps {
            // A name selects nothing in an array or a scalar, an index nothing in an object or
            // a scalar: only the right kind of value is split.
            let found = match (step, at.text.get().as_bytes().first()) {
                (Step::Name(name), Some(b'{')) => {
                    object(at.text)?.swap_remove(name).map(|text| Selected {
                        text,
                        member: Some(name.clone()),
                    })
                }
                (Step::Index(index), Some(b'[')) => {
                    element(&array(at.text)?, *index).map(|text| Selected { text, member: None })
                }
                _ => None,
            };
            match found {
                Some(found) => at = found,
                None => return Ok(Vec::new()),
            }
        }
        if !self.wildcard {
            return Ok(vec![at]);
        }
        Ok(match at.text.get().as_bytes().first() {
            Some(b'[') => array(at.text)?
                .into_iter()
                .map(|text| Selected { text, member: None })
                .collect(),
            Some(b'{') => object(at.text)?
                .into_iter()
                .map(|(name, text)| Selected {
                    text,
                    member: Some(name),
                })
                .collect(),
            // A scalar has no members.
            _ => Vec::new(),
        })
    }
}

/// The element at `index` (from the end when negative), as jsonpath-rust picks it.
fn element<'a>(elements: &[&'a RawValue], index: i64) -> Option<&'a RawValue> {
    let at = if index >= 0 {
        usize::try_from(index).ok()?
    } else {
        elements
            .len()
            .checked_sub(usize::try_from(index.unsigned_abs()).ok()?)?
    };
    elements.get(at).copied()
}

/// The elements of the array whose text is `text`.
fn array(text: &RawValue) -> Result<Vec<&RawValue>, NotPlain> {
    serde_json::from_str(text.get()).map_err(|_| NotPlain)
}

/// The members of the object whose text is `text`, as `serde_json::Map` keeps them.
fn object(text: &RawValue) -> Result<IndexMap<String, &RawValue>, NotPlain> {
    let members: IndexMap<String, &RawValue> =
        serde_json::from_str(text.get()).map_err(|_| NotPlain)?;
    let private = |name: &String| {
        name.as_str() == "$serde_json::private::Number"
            || name.as_str() == "$serde_json::private::RawValue"
    };
    if members.keys().any(private) {
        return Err(NotPlain);
    }
    Ok(members)
}
